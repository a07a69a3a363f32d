import type { TaskId } from './types.js';

const BRAND = Symbol.for('tasklane.error');

/**
 * Base class of every error tasklane creates for a task or a wait.
 *
 * Use {@link isRunnerError} rather than `instanceof` when two copies of tasklane may be loaded.
 */
export class RunnerError extends Error {
  override name: string = 'RunnerError';
  /** @internal */
  readonly [BRAND] = true;
}

/**
 * A task ran longer than its `timeout` and was stopped; the task ends `failed` with this error.
 *
 * The work's `AbortSignal` is aborted with this error as its reason.
 */
export class TaskTimeoutError extends RunnerError {
  override name = 'TaskTimeoutError' as const;
  /** The task that timed out. */
  readonly taskId: TaskId;
  /** The timeout that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  constructor(taskId: TaskId, timeoutMs: number, options?: ErrorOptions) {
    super(
      `Task "${taskId}" timed out after ${timeoutMs} ms; raise its \`timeout\` option or make the work honour \`context.signal\``,
      options,
    );
    this.taskId = taskId;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A task was cancelled (by `task.cancel()`, `runner.cancelTask()`, `cancelAll()` or `stop()`).
 *
 * `task.wait()` rejects with it, and the work's `AbortSignal` is aborted with it as its reason.
 */
export class TaskCancelledError extends RunnerError {
  override name = 'TaskCancelledError' as const;
  /** The task that was cancelled. */
  readonly taskId: TaskId;
  /** The reason given to `cancel(reason)` (or the runner's own, e.g. "the runner stopped"), if any. */
  readonly reason: string | undefined;
  constructor(taskId: TaskId, reason?: string, options?: ErrorOptions) {
    super(`Task "${taskId}" was cancelled${reason ? `: ${reason}` : ''}`, options);
    this.taskId = taskId;
    this.reason = reason;
  }
}

/**
 * A task's work failed with something that is not an `Error` (a thrown string, say).
 * The thrown value is kept as `cause`.
 */
export class TaskFailedError extends RunnerError {
  override name = 'TaskFailedError' as const;
  /** The task that failed. */
  readonly taskId: TaskId;
  constructor(taskId: TaskId, cause: unknown) {
    super(`Task "${taskId}" failed with a non-Error value: ${describe(cause)}`, { cause });
    this.taskId = taskId;
  }
}

/**
 * A task's process died while the task was `pending`, `running` or `retrying`, and the runner that
 * reconciled the store could not re-run it: it was submitted as a function (which cannot be
 * stored), or the runner was created with `resume: 'mark-lost'`. The task ends `lost` with it.
 *
 * @example
 * ```ts
 * runner.on('lost', ({ task }) => console.warn(task.error?.message));
 * ```
 */
export class TaskLostError extends RunnerError {
  override name = 'TaskLostError' as const;
  /** The task that was lost. */
  readonly taskId: TaskId;
  /** The state the task was in when its process died. */
  readonly lastStatus: string;
  constructor(taskId: TaskId, lastStatus: string, why: 'function' | 'mark-lost') {
    super(
      why === 'function'
        ? `Task "${taskId}" was ${lastStatus} when its process died; it cannot be re-run because it was submitted as a function — submit it by name with runner.define() to have it re-queued`
        : `Task "${taskId}" was ${lastStatus} when its process died; it was not re-run because the runner was created with resume: 'mark-lost'`,
    );
    this.taskId = taskId;
    this.lastStatus = lastStatus;
  }
}

/**
 * `submit(name)` named a handler that was never registered with `runner.define(name, fn)`.
 */
export class UnknownHandlerError extends RunnerError {
  override name = 'UnknownHandlerError' as const;
  /** The name that was submitted. */
  readonly handler: string;
  constructor(handler: string, defined: readonly string[]) {
    super(
      `No handler named ${JSON.stringify(handler)}; define it first with runner.define(${JSON.stringify(handler)}, fn)` +
        (defined.length > 0 ? ` (defined: ${defined.map((name) => JSON.stringify(name)).join(', ')})` : ' (none are defined)'),
    );
    this.handler = handler;
  }
}

/**
 * A runner tried to open a store that another live runner holds. Two runners on one store would
 * both re-queue the same tasks, so the second one is refused. A lock whose process has died (or
 * whose heartbeat is older than the store's `staleAfter`) is taken over instead.
 */
export class StoreLockedError extends RunnerError {
  override name = 'StoreLockedError' as const;
  /** Where the store is (its file path). */
  readonly location: string;
  /** The pid of the process holding the lock. */
  readonly pid: number;
  /** The host the holder runs on. */
  readonly host: string;
  constructor(location: string, pid: number, host: string, message?: string) {
    super(
      message ??
        `The task store ${location} is in use by another runner (pid ${pid} on ${host}); stop that runner first, or give this one another store file`,
    );
    this.location = location;
    this.pid = pid;
    this.host = host;
  }
}

const NON_RETRYABLE = Symbol.for('tasklane.nonRetryable');

/**
 * Throw it from your work to fail the task at once, without the retries it has left (bad input,
 * a 401 from an API: anything another attempt cannot fix). Put the original error in `cause`.
 *
 * @example
 * ```ts
 * if (response.status === 401) throw new NonRetryableError('API key rejected', { cause: body });
 * ```
 */
export class NonRetryableError extends RunnerError {
  override name = 'NonRetryableError' as const;
  /** @internal */
  readonly [NON_RETRYABLE] = true;
}

/** @internal Whether `error` asks not to be retried (also across copies of tasklane). */
export function isNonRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[NON_RETRYABLE] === true;
}

/**
 * `task.wait({ timeout })` or `runner.waitAll({ timeout })` gave up waiting.
 *
 * The task itself keeps running: cancel it with `task.cancel()` if that is what you want.
 */
export class WaitTimeoutError extends RunnerError {
  override name = 'WaitTimeoutError' as const;
  /** The task waited for, or `undefined` for `waitAll()`. */
  readonly taskId: TaskId | undefined;
  /** How long the wait lasted, in milliseconds. */
  readonly timeoutMs: number;
  constructor(taskId: TaskId | undefined, timeoutMs: number) {
    super(
      taskId === undefined
        ? `waitAll() gave up after ${timeoutMs} ms; tasks are still running (cancel them with cancelAll())`
        : `wait() gave up on task "${taskId}" after ${timeoutMs} ms; the task is still running (cancel it with task.cancel())`,
    );
    this.taskId = taskId;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * `submit()` found the queue full: `maxQueueSize` tasks are already pending. Back off and submit
 * again later (`await runner.onIdle()` or the `started` event tell you when room frees up).
 */
export class QueueFullError extends RunnerError {
  override name = 'QueueFullError' as const;
  /** The `maxQueueSize` in force. */
  readonly maxQueueSize: number;
  constructor(maxQueueSize: number) {
    super(`Cannot submit: ${maxQueueSize} tasks are already pending (maxQueueSize); retry after some have started`);
    this.maxQueueSize = maxQueueSize;
  }
}

/**
 * `submit()` was called after `stop()`. It extends `TypeError` (a misuse of the API) and still
 * carries the tasklane brand, so {@link isRunnerError} recognises it.
 */
export class RunnerStoppedError extends TypeError {
  override name = 'RunnerStoppedError' as const;
  /** @internal */
  readonly [BRAND] = true;
  constructor(action: string) {
    super(`Cannot ${action} after stop(); create a new BackgroundRunner`);
  }
}

/**
 * Tells whether `value` is an error created by tasklane (any copy of it).
 *
 * @example
 * ```ts
 * try { await task.wait(); } catch (error) { if (isRunnerError(error)) console.log(error.name); }
 * ```
 */
export function isRunnerError(value: unknown): value is RunnerError | RunnerStoppedError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** @internal Describes a value for an error message: `` `0` (number) ``. */
export function describe(value: unknown): string {
  let shown: string;
  let kind: string = typeof value;
  try {
    if (typeof value === 'function') shown = describeFunction(value);
    else if (typeof value === 'string') shown = JSON.stringify(value);
    else if (typeof value === 'bigint') shown = `${value}n`;
    else if (typeof value === 'number' || value === undefined) shown = String(value);
    else if (typeof value === 'symbol') shown = value.toString();
    else if (value === null || typeof value === 'boolean') shown = String(value);
    else {
      // Objects may be proxies whose traps throw (or revoked ones): nothing here may throw, since
      // this builds the message of the error being thrown.
      kind = Array.isArray(value) ? 'array' : 'object';
      try {
        shown = JSON.stringify(value) ?? Object.prototype.toString.call(value);
      } catch {
        shown = Object.prototype.toString.call(value);
      }
    }
  } catch {
    shown = kind === 'object' ? '[object]' : `[${kind}]`;
  }
  if (value === null) kind = 'null';
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  return `\`${shown}\` (${kind})`;
}

function describeFunction(fn: unknown): string {
  const name: unknown = (fn as { name?: unknown }).name;
  return typeof name === 'string' && name !== '' ? `[function ${name}]` : '[function]';
}

/** @internal The message of a thrown value, for a message of ours; never throws. */
export function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'an unprintable value';
  }
}

/** @internal Wraps a thrown value so a task's `error` is always an `Error`. */
export function toError(taskId: TaskId, value: unknown): Error {
  return value instanceof Error ? value : new TaskFailedError(taskId, value);
}
