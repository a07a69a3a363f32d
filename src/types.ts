/**
 * A task's id, given at submit time: shaped like a UUID v4 and unique across runners and processes
 * (a random part drawn once per runner, and a counter).
 */
export type TaskId = string;

/**
 * The state a task is in. `pending`, `running` and `retrying` (waiting out the backoff between
 * attempts) are active; the other four are final, and a task reaches exactly one of them. `lost`
 * is only reached through a store: the task's process died and the task could not be re-run.
 */
export type TaskStatus = 'pending' | 'running' | 'retrying' | 'completed' | 'failed' | 'cancelled' | 'lost';

/**
 * The task states as constants, for code ported from Python's `TaskStatus.COMPLETED`.
 *
 * @example
 * ```ts
 * if (task.status === TaskStatus.COMPLETED) console.log(task.result);
 * ```
 */
export const TaskStatus = Object.freeze({
  PENDING: 'pending',
  RUNNING: 'running',
  RETRYING: 'retrying',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  LOST: 'lost',
} as const satisfies Record<string, TaskStatus>);

/** The four final states. */
export type FinalTaskStatus = Extract<TaskStatus, 'completed' | 'failed' | 'cancelled' | 'lost'>;

/** @internal */
export function isFinalStatus(status: TaskStatus): status is FinalTaskStatus {
  return status === 'completed' || status === 'failed' || status === 'cancelled' || status === 'lost';
}

/**
 * What the work receives as its last argument: `fn(...args, context)`.
 */
export interface TaskContext {
  /** The id of the task this call runs for. */
  readonly taskId: TaskId;
  /** Which attempt this call is: 1 for the first, 2 for the first retry, and so on. */
  readonly attempt: number;
  /**
   * Aborted when the task leaves `running` before the work settles: on cancel, on timeout and on
   * `stop()`. Its `reason` is the `TaskCancelledError` or `TaskTimeoutError`. Pass it on to
   * `fetch`, agent SDKs and timers so abandoned work really stops.
   */
  readonly signal: AbortSignal;
  /**
   * Reports progress as a fraction from 0 to 1, with an optional message. Emits a `progress` event
   * and updates `task.progress`. Ignored once the task has left `running`.
   *
   * @throws RangeError when `fraction` is not a number from 0 to 1.
   */
  reportProgress(fraction: number, message?: string): void;
}

/**
 * Work a task runs: called as `fn(...args, context)`. It may be async or sync; a sync return value
 * or throw is handled like a resolved or rejected promise. Work that returns (or resolves to) an
 * `AsyncIterable`, such as an `async function*`, streams: see `SubmitOptions.onChunk` and `collect`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskFunction<TArgs extends unknown[] = any[], TResult = unknown> = (
  ...args: [...TArgs, TaskContext]
) => TResult | PromiseLike<TResult>;

/** The clock tasklane reads timestamps from. Defaults to `Date.now`. @internal */
export type Now = () => number;

/**
 * @internal
 * A function property that work may carry to check its arguments at submit time (e.g. that they
 * survive a structured clone into a worker thread); it throws a `TypeError` to reject the submit.
 */
export const VALIDATE_ARGS: unique symbol = Symbol.for('tasklane.validateArgs');
