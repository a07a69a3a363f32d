import type { TaskId } from '../types.js';
import type { BackgroundTask } from './background-task.js';

/**
 * The runner's events and their payloads: `runner.on('completed', ({ task }) => …)`.
 *
 * Each listener gets one payload object. A listener that throws does not break the runner or
 * the task: the error is reported on `'error'`.
 */
export interface RunnerEvents {
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
   * backend lost its connection or could not apply a remote event (`source: 'backend'`).
   * Without an `'error'` listener, tasklane emits a process warning instead.
   */
  error: (event: {
    error: unknown;
    source: 'onComplete' | 'onProgress' | 'onChunk' | 'onRecovered' | 'listener' | 'store' | 'backend';
    taskId: TaskId | undefined;
  }) => void;
}

/** The name of one of the runner's events. */
export type RunnerEventName = keyof RunnerEvents;
