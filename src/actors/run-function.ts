import { describe, toError } from '../errors.js';
import type { TaskMachineEvent } from '../machines/task-machine.js';
import type { Now, TaskContext, TaskId } from '../types.js';
import { STREAM_RETURNS_RESULT } from './stream-work.js';

/** Receives what the running work reports: `progress`, then one `done` or `error`. */
export type WorkListener = (event: TaskMachineEvent) => void;

/**
 * What turns a stream's items into the task's result (the `collect` submit option). It may be
 * async; a throw or rejection fails the attempt.
 */
export type Collect = (items: unknown[]) => unknown;

/** One call of the work. */
interface Run {
  readonly attempt: number;
  state: 'running' | 'settled';
  controller: AbortController | undefined;
  /** The iterator of work that streams, so an abort can end it with `return()`. */
  iterator: AsyncIterator<unknown> | undefined;
}

/**
 * One task's work: the user's function, its arguments and its current run.
 *
 * It calls the function once per attempt, settles each attempt at most once, and reports to
 * whoever is attached now: the runner while the task has no actor, the task actor's `execute`
 * child once it has one. That hand-over is what lets a task gain an actor while its work runs.
 *
 * @internal
 */
export class Execution {
  readonly taskId: TaskId;
  readonly fn: (...args: never[]) => unknown;
  readonly args: readonly unknown[];
  readonly #now: Now;
  readonly #collect: Collect | undefined;
  #listener: WorkListener | undefined;
  #run: Run | undefined;

  constructor(taskId: TaskId, fn: (...args: never[]) => unknown, args: readonly unknown[], now: Now, collect?: Collect) {
    this.taskId = taskId;
    this.fn = fn;
    this.args = args;
    this.#now = now;
    this.#collect = collect;
  }

  /** Whether the current attempt has settled or been aborted (true before any attempt). */
  get isSettled(): boolean {
    return this.#run?.state !== 'running';
  }

  /** Routes reports to `listener`, calling the work if `attempt` has not been started yet. */
  attach(listener: WorkListener, attempt = 1): void {
    this.#listener = listener;
    if (this.#run?.attempt !== attempt) this.#start(attempt);
  }

  /** Stops reporting and aborts the current attempt's signal with `reason`. No-op once settled. */
  abort(reason: unknown): void {
    const run = this.#run;
    if (!run || run.state === 'settled') return;
    run.state = 'settled';
    this.#listener = undefined;
    // Work that never read its signal gets an already-aborted one if it reads it later.
    (run.controller ??= new AbortController()).abort(reason);
    const iterator = run.iterator;
    if (iterator) {
      run.iterator = undefined;
      closeIterator(iterator);
    }
  }

  /** Keeps inspector payloads and `JSON.stringify(snapshot)` small. */
  toJSON(): { fn: string; args: number } {
    return { fn: this.fn.name || 'anonymous', args: this.args.length };
  }

  #start(attempt: number): void {
    const run: Run = { attempt, state: 'running', controller: undefined, iterator: undefined };
    this.#run = run;
    const context = new RunContext(this, run);
    const fail = (error: unknown) => this.#settle(run, { type: 'error', error: toError(this.taskId, error), at: 0 });
    let returned: unknown;
    try {
      returned = (this.fn as (...args: unknown[]) => unknown)(...this.args, context);
    } catch (error) {
      // Settle a sync throw on a later tick, like a rejected promise, so `submit()` returns first.
      queueMicrotask(() => fail(error));
      return;
    }
    if (isPromiseLike(returned)) {
      returned.then(
        (output) => (isAsyncIterable(output) ? void this.#stream(run, output) : this.#settle(run, { type: 'done', output, at: 0 })),
        fail,
      );
    } else if (isAsyncIterable(returned)) {
      // Start on a later tick too, so `submit()` returns before the first item is pulled.
      queueMicrotask(() => void this.#stream(run, returned));
    } else {
      queueMicrotask(() => this.#settle(run, { type: 'done', output: returned, at: 0 }));
    }
  }

  /**
   * Pulls a stream's items one at a time: each is reported as a `progress` event carrying it as
   * `chunk`; at the end the attempt completes with `collect(items)`, else what the generator
   * returned (if not `undefined`), else the items. An abort ends the iteration with `return()`.
   */
  async #stream(run: Run, iterable: AsyncIterable<unknown>): Promise<void> {
    try {
      const iterator = iterable[Symbol.asyncIterator]();
      if (run.state !== 'running' || this.#run !== run) {
        closeIterator(iterator);
        return;
      }
      run.iterator = iterator;
      const collect = this.#collect;
      const keepsItems = collect !== undefined || (iterable as { [STREAM_RETURNS_RESULT]?: boolean })[STREAM_RETURNS_RESULT] !== true;
      const items: unknown[] = [];
      for (;;) {
        const step = await iterator.next();
        // Aborted meanwhile: `abort()` has already called `return()`; the rest is ignored.
        if (run.state !== 'running' || this.#run !== run) return;
        if (step.done) {
          run.iterator = undefined;
          let output: unknown;
          if (collect) output = await collect(items);
          else output = step.value !== undefined || !keepsItems ? step.value : items;
          this.#settle(run, { type: 'done', output, at: 0 });
          return;
        }
        if (keepsItems) items.push(step.value);
        this.#listener?.({ type: 'progress', chunk: step.value });
      }
    } catch (error) {
      run.iterator = undefined;
      this.#settle(run, { type: 'error', error: toError(this.taskId, error), at: 0 });
    }
  }

  /** @internal Forwards a progress report of `run`, if it is still the current, running one. */
  _progress(run: Run, fraction: number, message: string | undefined): void {
    if (run.state === 'running' && this.#run === run) this.#listener?.({ type: 'progress', fraction, message });
  }

  #settle(run: Run, event: Extract<TaskMachineEvent, { type: 'done' | 'error' }>): void {
    if (run.state !== 'running' || this.#run !== run) return;
    run.state = 'settled';
    const listener = this.#listener;
    this.#listener = undefined;
    event.at = this.#now();
    listener?.(event);
  }
}

/**
 * The `context` one run of the work receives. A class (not an object literal with getters) keeps
 * its creation cheap; `reportProgress` is bound on first read so it can be destructured.
 */
class RunContext implements TaskContext {
  readonly #execution: Execution;
  readonly #run: Run;
  #report: TaskContext['reportProgress'] | undefined;

  constructor(execution: Execution, run: Run) {
    this.#execution = execution;
    this.#run = run;
  }

  get taskId(): TaskId {
    return this.#execution.taskId;
  }

  get attempt(): number {
    return this.#run.attempt;
  }

  // Created on first read: most work never looks at it, and an AbortController per task is a
  // measurable share of a no-op task's cost.
  get signal(): AbortSignal {
    return (this.#run.controller ??= new AbortController()).signal;
  }

  get reportProgress(): TaskContext['reportProgress'] {
    return (this.#report ??= (fraction, message) => {
      if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
        throw new RangeError(`Expected \`fraction\` to be a number from 0 to 1, got ${describe(fraction)}`);
      }
      if (message !== undefined && typeof message !== 'string') {
        throw new TypeError(`Expected \`message\` to be a string, got ${describe(message)}`);
      }
      this.#execution._progress(this.#run, fraction, message);
    });
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    value !== null && value !== undefined && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/**
 * Ends an iterator early so a generator runs its `finally` (queued behind a pending `next()`, as
 * async generators do) and a `ReadableStream` is cancelled. Its outcome is of no interest now.
 */
function closeIterator(iterator: AsyncIterator<unknown>): void {
  try {
    const closing = iterator.return?.();
    if (isPromiseLike(closing)) closing.then(undefined, () => undefined);
  } catch {
    // An iterator whose return() throws is done either way.
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}
