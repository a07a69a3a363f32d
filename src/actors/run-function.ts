import { fromCallback } from 'xstate';
import { describe, TaskCancelledError, toError } from '../errors.js';
import type { TaskMachineEvent } from '../machines/task-machine.js';
import type { Now, TaskContext, TaskId } from '../types.js';

/** Receives what the running work reports: `progress`, then one `done` or `error`. */
export type WorkListener = (event: TaskMachineEvent) => void;

/**
 * One task's work: the user's function, its arguments and, once started, its `AbortController`.
 *
 * It starts the function at most once, settles at most once, and reports to whoever is attached
 * now: the runner while the task has no actor, the task actor's `execute` child once it has one.
 * That hand-over is what lets a task gain an actor while its work is already running.
 *
 * @internal
 */
export class Execution {
  readonly taskId: TaskId;
  readonly fn: (...args: never[]) => unknown;
  readonly args: readonly unknown[];
  readonly #now: Now;
  #listener: WorkListener | undefined;
  #controller: AbortController | undefined;
  #state: 'idle' | 'running' | 'settled' = 'idle';

  constructor(taskId: TaskId, fn: (...args: never[]) => unknown, args: readonly unknown[], now: Now) {
    this.taskId = taskId;
    this.fn = fn;
    this.args = args;
    this.#now = now;
  }

  /** Whether the work has settled or been aborted. */
  get isSettled(): boolean {
    return this.#state === 'settled';
  }

  /**
   * The signal given to the work. Created on first read: most work never looks at it, and an
   * `AbortController` per task is a measurable share of a no-op task's cost.
   */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Routes reports to `listener`, starting the work on the first call. */
  attach(listener: WorkListener): void {
    this.#listener = listener;
    if (this.#state === 'idle') this.#start();
  }

  /** Stops reporting and aborts the work's signal with `reason`. Idempotent; no-op once settled. */
  abort(reason: unknown): void {
    if (this.#state === 'settled') return;
    const started = this.#state === 'running';
    this.#state = 'settled';
    this.#listener = undefined;
    // Work that never started has no signal to abort; work that never read its signal gets an
    // already-aborted one if it reads it later.
    if (started) (this.#controller ??= new AbortController()).abort(reason);
  }

  /** Keeps inspector payloads and `JSON.stringify(snapshot)` small. */
  toJSON(): { fn: string; args: number } {
    return { fn: this.fn.name || 'anonymous', args: this.args.length };
  }

  #start(): void {
    this.#state = 'running';
    const execution = this;
    const context: TaskContext = {
      taskId: this.taskId,
      get signal() {
        return execution.signal;
      },
      reportProgress: (fraction, message) => {
        if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
          throw new RangeError(`Expected \`fraction\` to be a number from 0 to 1, got ${describe(fraction)}`);
        }
        if (message !== undefined && typeof message !== 'string') {
          throw new TypeError(`Expected \`message\` to be a string, got ${describe(message)}`);
        }
        if (this.#state === 'running') this.#listener?.({ type: 'progress', fraction, message });
      },
    };
    let returned: unknown;
    try {
      returned = (this.fn as (...args: unknown[]) => unknown)(...this.args, context);
    } catch (error) {
      // Settle a sync throw on a later tick, like a rejected promise, so `submit()` returns first.
      queueMicrotask(() => this.#settle({ type: 'error', error: toError(this.taskId, error), at: 0 }));
      return;
    }
    if (isPromiseLike(returned)) {
      returned.then(
        (output) => this.#settle({ type: 'done', output, at: 0 }),
        (error: unknown) => this.#settle({ type: 'error', error: toError(this.taskId, error), at: 0 }),
      );
    } else {
      queueMicrotask(() => this.#settle({ type: 'done', output: returned, at: 0 }));
    }
  }

  #settle(event: Extract<TaskMachineEvent, { type: 'done' | 'error' }>): void {
    if (this.#state !== 'running') return;
    this.#state = 'settled';
    const listener = this.#listener;
    this.#listener = undefined;
    event.at = this.#now();
    listener?.(event);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The `execute` actor the runner gives task actors: attaches the running task actor to its
 * {@link Execution}. Stopping it (the task left `running`) aborts the work; the runner has by then
 * usually aborted it already with the exact `TaskCancelledError`/`TaskTimeoutError`, so this is the
 * fallback for a task actor used on its own.
 *
 * @internal
 */
export const runFunctionLogic = fromCallback<TaskMachineEvent, unknown>(({ input: work, sendBack }) => {
  const input = work as Execution;
  input.attach(sendBack);
  return () => {
    // The runner aborts with the task's own error right after the transition; give it that turn.
    queueMicrotask(() => input.abort(new TaskCancelledError(input.taskId, 'the task left running')));
  };
});
