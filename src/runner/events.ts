import { EventEmitter } from 'eventemitter3';
import type { TaskId, TaskStatus } from '../types.js';
import { checkOneOf, invalid } from '../validate.js';
import type { BackgroundTask } from './background-task.js';

/**
 * The runner's events and their payloads: `runner.on('completed', ({ task }) => …)`.
 *
 * Each listener gets one payload object. A listener that throws does not break the runner or
 * the task: the error is reported on `'error'`.
 */
export interface RunnerEvents {
  /**
   * A task changed state: one event for every status change of every task, synchronously and in
   * order, after the task's snapshot holds the new status (so `task.status === to`). It comes
   * before the event named after the state (`'started'`, `'completed'`…). Progress reports are not
   * transitions. With no listener it costs nothing, and listening never gives a task an actor.
   * See {@link TransitionEvent}.
   *
   * @example
   * ```ts
   * runner.on('transition', ({ task, from, to, event }) => log(`${task.id} ${from ?? '∅'} → ${to} (${event})`));
   * ```
   */
  transition: (event: TransitionEvent) => void;
  /** A task was accepted; it is `pending` until a slot frees up. */
  submitted: (event: { task: BackgroundTask }) => void;
  /** A task entered `running`: its work is being called (`attempt` 1, then once per retry). */
  started: (event: { task: BackgroundTask; attempt: number }) => void;
  /** An attempt failed and another follows after `delayMs` (the task is in `retrying`). */
  retrying: (event: { task: BackgroundTask; error: Error; attempt: number; delayMs: number }) => void;
  /**
   * The running work reported progress (`context.reportProgress`), or streamed an item: then
   * `chunk` holds the item (the key is absent for plain progress reports) and `progress`/`message`
   * are unchanged unless the work reported them too.
   */
  progress: (event: { task: BackgroundTask; progress: number; message: string | undefined; chunk?: unknown }) => void;
  /** A task entered `completed`; `task.result` holds the value. */
  completed: (event: { task: BackgroundTask }) => void;
  /** A task entered `failed`: its work threw or rejected, or it timed out (`TaskTimeoutError`). */
  failed: (event: { task: BackgroundTask; error: Error }) => void;
  /** A task entered `cancelled`, from `pending` or `running`. */
  cancelled: (event: { task: BackgroundTask }) => void;
  /**
   * A task entered `lost` while `recover()` reconciled a store: its process died and it could not
   * be re-run (it was submitted as a function, or `resume` is `'mark-lost'`). `error` is a `TaskLostError`.
   */
  lost: (event: { task: BackgroundTask; error: Error }) => void;
  /**
   * A task whose outcome a dead process could not deliver: found finished but undelivered or
   * ended `lost` by `recover()`, or a re-queued task that has now finished. Same as the
   * `onRecovered` option.
   */
  recovered: (event: { task: BackgroundTask }) => void;
  /** Nothing is pending or running any more. */
  idle: (event: Record<string, never>) => void;
  /**
   * A callback of yours threw (an `onComplete`/`onProgress`/`onChunk`/`onRecovered` option or an event
   * listener), or writing to the store failed (`source: 'store'`; the write is retried), or the
   * `clock` option's `setTimeout` threw (`source: 'clock'`; the runner used the real timer instead,
   * or, for a task's own timer, ended that task), or the backend lost its connection or could not
   * apply a remote event (`source: 'backend'`).
   * Without an `'error'` listener, tasklane emits a process warning instead.
   */
  error: (event: {
    /** What was thrown; a thrown non-Error value arrives wrapped in an `Error` whose `cause` it is. */
    error: Error;
    source: ErrorSource;
    taskId: TaskId | undefined;
  }) => void;
}

/** The name of one of the runner's events. */
export type RunnerEventName = keyof RunnerEvents;

const eventNames = [
  'transition',
  'submitted',
  'started',
  'retrying',
  'progress',
  'completed',
  'failed',
  'cancelled',
  'lost',
  'recovered',
  'idle',
  'error',
] as const satisfies readonly RunnerEventName[];

/**
 * @internal
 * Every event name, so `on('complete', …)` (a typo) is a `TypeError` instead of a listener that
 * never runs. Fails to compile when an event is added to {@link RunnerEvents} and not here.
 */
const RUNNER_EVENT_NAMES: ReadonlySet<string> = new Set(eventNames);
true satisfies [Exclude<RunnerEventName, (typeof eventNames)[number]>] extends [never]
  ? true
  : Exclude<RunnerEventName, (typeof eventNames)[number]>;

/**
 * The payload of the `'transition'` event.
 *
 * `event` is the type of the chart event that caused the change: `'submit'` (from `null` to
 * `pending` at submit), `'restore'` (from `null` when `recover()` takes a stored task over, to
 * `pending` or to the final state it was found in), else one of `TaskMachineEvent`'s types:
 * `'start'`, `'retry'`, `'done'`, `'error'`, `'timeout'`, `'cancel'`, `'lose'`.
 */
export interface TransitionEvent {
  readonly task: BackgroundTask;
  /** The status left, or `null` when the task came into being (submit or restore). */
  readonly from: TaskStatus | null;
  /** The status entered; `task.status` already reads it. */
  readonly to: TaskStatus;
  /** The type of the event that caused the change (see above). */
  readonly event: string;
  /**
   * When, in epoch ms from the runner's clock: the time the chart recorded for the change (the
   * attempt's start, the failure, the completion; the submit time for `pending`).
   */
  readonly at: number;
  /** The task's attempt at that moment, 1-based: 1 until the first retry starts. */
  readonly attempt: number;
}

/** Where an error reported on `'error'` came from. */
export type ErrorSource = 'onComplete' | 'onProgress' | 'onChunk' | 'onRecovered' | 'listener' | 'store' | 'clock' | 'backend';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/**
 * @internal
 * The runner's emitter: typed events, listeners wrapped so one that throws is reported on
 * `'error'` instead of breaking the runner, and the user callbacks run the same way. The only code
 * that turns what happens to tasks into events is the task driver, through this. Event names are
 * checked against {@link RUNNER_EVENT_NAMES}, so a typo is a `TypeError`, not a silent listener.
 */
export class RunnerEmitter {
  readonly #emitter = new EventEmitter();
  /** Each listener's wrapper, per event: a wrapper knows its event (a function may listen to several). */
  readonly #wrapped = new WeakMap<Listener, Map<RunnerEventName, Listener>>();

  on(event: RunnerEventName, listener: unknown): void {
    this.#emitter.on(event, this.#wrap(event, listener));
  }

  once(event: RunnerEventName, listener: unknown): void {
    this.#emitter.once(event, this.#wrap(event, listener));
  }

  off(event: RunnerEventName, listener: unknown): void {
    checkOneOf('event', event, RUNNER_EVENT_NAMES);
    const wrapped = this.#wrapped.get(listener as Listener)?.get(event);
    if (wrapped) this.#emitter.off(event, wrapped);
  }

  listenerCount(event: RunnerEventName): number {
    return this.#emitter.listenerCount(checkOneOf('event', event, RUNNER_EVENT_NAMES));
  }

  removeAllListeners(event?: RunnerEventName): void {
    if (event !== undefined) checkOneOf('event', event, RUNNER_EVENT_NAMES);
    this.#emitter.removeAllListeners(event);
  }

  /** Whether `event` has listeners: lets hot paths skip building a payload nobody reads. */
  listens(event: RunnerEventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  emit<E extends RunnerEventName>(event: E, payload: Parameters<RunnerEvents[E]>[0]): void {
    this.#emitter.emit(event, payload);
  }

  /** Runs a user callback; a throw is reported, never propagated. */
  call(source: 'onComplete' | 'onProgress' | 'onChunk' | 'onRecovered', taskId: TaskId, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.report(error, source, taskId);
    }
  }

  /** Reports on `'error'`, or as a process warning when nobody listens. */
  report(error: unknown, source: ErrorSource, taskId: TaskId | undefined): void {
    if (this.#emitter.listenerCount('error') > 0) {
      // The event promises an Error: a thrown string or object arrives wrapped, as the cause.
      const reported = error instanceof Error ? error : new Error(`${source} threw a non-Error value: ${String(error)}`, { cause: error });
      this.emit('error', { error: reported, source, taskId });
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`tasklane: ${source} for task ${taskId ?? '-'} threw: ${message}`, { code: 'TASKLANE_CALLBACK_ERROR' });
  }

  #wrap(event: RunnerEventName, listener: unknown): Listener {
    checkOneOf('event', event, RUNNER_EVENT_NAMES);
    if (typeof listener !== 'function') invalid('listener', 'a function', listener);
    let byEvent = this.#wrapped.get(listener as Listener);
    if (!byEvent) this.#wrapped.set(listener as Listener, (byEvent = new Map<RunnerEventName, Listener>()));
    let wrapped = byEvent.get(event);
    if (!wrapped) {
      wrapped = ((payload: unknown) => {
        try {
          (listener as (payload: unknown) => void)(payload);
        } catch (error) {
          if (event === 'error') return; // never loop on a throwing error listener
          const taskId = (payload as { task?: BackgroundTask } | undefined)?.task?.id;
          this.report(error, 'listener', taskId);
        }
      }) as Listener;
      byEvent.set(event, wrapped);
    }
    return wrapped;
  }
}
