import { toObserver } from 'xstate';
import type { Observer, Subscription } from 'xstate';
import { TaskCancelledError, WaitTimeoutError } from '../errors.js';
import type { QueuedTask } from '../machines/supervisor-machine.js';
import type { AttemptRecord, TaskActor, TaskMachineContext, TaskSnapshot } from '../machines/task-machine.js';
import { findNotJson, notJsonMarker } from '../store/json-data.js';
import { isFinalStatus } from '../types.js';
import type { TaskId, TaskStatus } from '../types.js';
import { checkReason, checkTimeout, invalid, readingArguments } from '../validate.js';
import type { RunnerClock } from './clock.js';
import type { TaskSummary } from './registry.js';

/** A task as plain JSON: what `task.toJSON()` and `runner.listTasks()` return. */
export interface TaskRecord {
  id: TaskId;
  name: string;
  status: TaskStatus;
  progress: number;
  message: string | null;
  /** How many items the work streamed in its current (or last) attempt. */
  chunks: number;
  result: unknown;
  error: { name: string; message: string } | null;
  /** ISO 8601. */
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  /** The current or last attempt (0 if it never started). */
  attempt: number;
  metadata: Record<string, unknown>;
}

/** @internal What a task handle needs from its runner. */
export interface TaskHost {
  readonly clock: Required<RunnerClock>;
  materialize(task: BackgroundTask): TaskActor;
  /** The task's snapshot when it has no actor. */
  snapshot(task: BackgroundTask): TaskSnapshot;
  /** Cancels the task; a remote task's cancel goes to its backend, hence the promise. */
  cancel(task: BackgroundTask, reason: string | undefined): boolean | Promise<boolean>;
  /** Reports an observer that threw. */
  report(error: unknown, task: BackgroundTask): void;
  /** Whether the task's latest state is not in the store yet (its write is then hurried): a final one settles `wait()` once it is. */
  unsaved(task: BackgroundTask): boolean;
}

const NO_SUBSCRIPTION: Subscription = Object.freeze({ unsubscribe: () => undefined });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTask = BackgroundTask<any>;

interface Waiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  timer: unknown;
}

/**
 * The handle `submit()` returns: the task's live state, its result, and ways to wait, cancel and
 * observe it. Every field reads the task's current state machine snapshot.
 *
 * @typeParam TResult - what the work resolves to.
 */
export class BackgroundTask<TResult = unknown> {
  // Fields are `declare`d and assigned in the constructor: emitted class fields are defined one by
  // one through an initializer, which cost a no-op task a few percent of its time.
  /** @internal */
  declare _status: TaskStatus;
  /** @internal */
  declare _context: TaskMachineContext;
  /** @internal The task's actor, once someone has looked at it. */
  declare _actor: TaskActor | undefined;
  /** @internal The timeout timer of an actor-less running task. */
  declare _timer: unknown;
  /** @internal The task's entry in the supervisor's queue and cleanup list, from submit to removal. */
  declare _entry: QueuedTask | undefined;
  /** @internal Where the runner's task table holds it (see `TaskTable`): 0 not held, 1 recent, 2 indexed. */
  declare _slot: 0 | 1 | 2;
  /** @internal */
  declare _waiters: Waiter[] | undefined;
  /** @internal Observers subscribed through the handle (see `subscribe`). */
  declare _observers: Observer<TaskSnapshot>[] | undefined;
  /** @internal The snapshot last built for `getSnapshot()` without an actor, kept while it is current. */
  declare _snapshot: TaskSnapshot | undefined;
  /** @internal */
  declare readonly _host: TaskHost;
  // Typed loosely so a BackgroundTask<number> is still a BackgroundTask<unknown>.
  /** @internal */
  declare readonly _onComplete: ((task: AnyTask) => void) | undefined;
  /** @internal */
  declare readonly _onProgress: ((progress: number, message: string | undefined, task: AnyTask) => void) | undefined;
  /** @internal */
  declare readonly _onChunk: ((chunk: unknown, task: AnyTask) => void) | undefined;

  // Not marked internal: stripInternal would drop it and leave an implicit public constructor. Private,
  // the published class says `private constructor()`, so `new BackgroundTask()` does not compile.
  // The runner creates handles with `BackgroundTask._create`.
  private constructor(
    host: TaskHost,
    context: TaskMachineContext,
    onComplete: ((task: BackgroundTask<TResult>) => void) | undefined,
    onProgress: ((progress: number, message: string | undefined, task: BackgroundTask<TResult>) => void) | undefined,
    onChunk?: ((chunk: never, task: BackgroundTask<TResult>) => void) | undefined,
  ) {
    this._status = 'pending';
    this._context = context;
    this._actor = undefined;
    this._timer = undefined;
    this._entry = undefined;
    this._slot = 0;
    this._waiters = undefined;
    this._observers = undefined;
    this._snapshot = undefined;
    this._host = host;
    this._onComplete = onComplete as BackgroundTask['_onComplete'];
    this._onProgress = onProgress as BackgroundTask['_onProgress'];
    this._onChunk = onChunk as BackgroundTask['_onChunk'];
  }

  /** @internal Creates a task handle: the runner's only way in, since the constructor is private. */
  static _create<TResult = unknown>(
    host: TaskHost,
    context: TaskMachineContext,
    onComplete: ((task: BackgroundTask<TResult>) => void) | undefined,
    onProgress: ((progress: number, message: string | undefined, task: BackgroundTask<TResult>) => void) | undefined,
    onChunk?: ((chunk: never, task: BackgroundTask<TResult>) => void) | undefined,
  ): BackgroundTask<TResult> {
    return new BackgroundTask<TResult>(host, context, onComplete, onProgress, onChunk);
  }

  /**
   * The task's id: UUID-shaped, unique across runners and processes (a per-runner random part and a
   * counter; tasks recovered from a store keep the id they were stored with).
   */
  get id(): TaskId {
    return this._context.taskId;
  }
  /** The `name` option, else the function's name, else `'task'`. */
  get name(): string {
    return this._context.name;
  }
  /** `'pending' | 'running' | 'retrying' | 'completed' | 'failed' | 'cancelled' | 'lost'`; compare with `TaskStatus.*`. */
  get status(): TaskStatus {
    return this._status;
  }
  /** Progress from 0 to 1 as the work last reported it (kept across retries); 1 once completed. */
  get progress(): number {
    return this._context.progress;
  }
  /** The message of the last progress report, if any. */
  get message(): string | undefined {
    return this._context.message;
  }
  /**
   * How many items the work has streamed in the current (or last) attempt: a sign of life for
   * streams whose total is unknown (their `progress` stays where the work last put it).
   */
  get chunks(): number {
    return this._context.chunks;
  }
  /** The work's value once `completed`; `undefined` before and in other final states. */
  get result(): TResult | undefined {
    return this._context.result as TResult | undefined;
  }
  /**
   * Why the task did not complete: what the work threw (non-`Error` values are wrapped in
   * `TaskFailedError`, kept as `cause`), a `TaskTimeoutError`, or a `TaskCancelledError`.
   */
  get error(): Error | undefined {
    return this._context.error;
  }
  /** When `submit()` accepted the task. */
  get createdAt(): Date {
    return new Date(this._context.createdAt);
  }
  /** When the work was called, or `undefined` if it never ran. */
  get startedAt(): Date | undefined {
    return toDate(this._context.startedAt);
  }
  /** When the task reached its final state. */
  get completedAt(): Date | undefined {
    return toDate(this._context.completedAt);
  }
  /** Milliseconds from start to finish (or to now while running); `undefined` if it never ran. */
  get durationMs(): number | undefined {
    const { startedAt, completedAt } = this._context;
    if (startedAt === undefined) return undefined;
    return Math.max(0, (completedAt ?? this._host.clock.now()) - startedAt);
  }
  /** The current or last attempt, 1-based (0 before the first start). */
  get attempt(): number {
    return this._context.attempt;
  }
  /** Every failed attempt so far, with its error and times (epoch ms). */
  get attempts(): readonly AttemptRecord[] {
    return this._context.attempts;
  }
  /** The `metadata` option. */
  get metadata(): Readonly<Record<string, unknown>> {
    return this._context.metadata;
  }
  /** Whether the task is waiting out the backoff before its next attempt. */
  get isRetrying(): boolean {
    return this._status === 'retrying';
  }
  /** Whether the work is running now. */
  get isRunning(): boolean {
    return this._status === 'running';
  }
  /** Whether the task reached a final state: completed, failed, cancelled or lost. */
  get isCompleted(): boolean {
    return isFinalStatus(this._status);
  }
  /** Whether the task completed with a result. */
  get isSuccessful(): boolean {
    return this._status === 'completed';
  }

  /**
   * The task's XState actor. Tasks nobody looks at run as compact records (that is how the runner
   * keeps up with p-queue); the first read creates a real actor in the task's current state, with
   * the runner's supervisor as its parent, and from then on that actor drives the task.
   */
  get actor(): TaskActor {
    return this._host.materialize(this as BackgroundTask);
  }

  /**
   * The task's current `taskMachine` snapshot (`value` is the status, `context` the data;
   * `matches`, `can`, `hasTag` work). It does not create an actor: a task without one gets a
   * genuine snapshot of the machine in the task's state, the same an actor would hold.
   */
  getSnapshot(): TaskSnapshot {
    if (this._actor) return this._actor.getSnapshot();
    const cached = this._snapshot;
    if (cached !== undefined && cached.context === this._context && cached.value === this._status) return cached;
    return (this._snapshot = this._host.snapshot(this as BackgroundTask));
  }

  /**
   * Observes the task's snapshots: one per transition and progress report, each a genuine
   * `taskMachine` snapshot. Completes after the final state (at once for a finished task). It does
   * not create an actor, so observing a task costs little and never changes what it does; an
   * observer that throws is reported on the runner's `'error'` event. Once the task has an actor
   * (`task.actor`), this is the same as `task.actor.subscribe(observer)`.
   *
   * @example
   * ```ts
   * task.subscribe((snapshot) => console.log(snapshot.value, snapshot.context.progress));
   * ```
   */
  subscribe(observer: Observer<TaskSnapshot> | ((snapshot: TaskSnapshot) => void)): Subscription {
    if (this._actor) return this._actor.subscribe(observer as Observer<TaskSnapshot>);
    const resolved = toObserver(observer);
    if (isFinalStatus(this._status)) {
      resolved.complete?.();
      return NO_SUBSCRIPTION;
    }
    (this._observers ??= []).push(resolved);
    return {
      unsubscribe: () => {
        const index = this._observers?.indexOf(resolved) ?? -1;
        if (index >= 0) this._observers!.splice(index, 1);
      },
    };
  }

  /** @internal Hands the current snapshot to the handle's observers; completes them once final. */
  _notify(): void {
    const observers = this._observers;
    if (observers === undefined) return;
    const final = isFinalStatus(this._status);
    if (final) this._observers = undefined;
    if (observers.length === 0) return;
    const snapshot = this.getSnapshot();
    for (const observer of [...observers]) {
      try {
        observer.next?.(snapshot);
      } catch (error) {
        this._host.report(error, this as BackgroundTask);
      }
    }
    if (!final) return;
    for (const observer of observers) {
      try {
        observer.complete?.();
      } catch (error) {
        this._host.report(error, this as BackgroundTask);
      }
    }
  }

  /**
   * Waits for the task to finish. Resolves with the result when it completes; rejects with the
   * work's error when it fails (`TaskTimeoutError` on timeout), with `TaskCancelledError` when it is
   * cancelled, and with `WaitTimeoutError` when `timeout` ms pass first: the task keeps running.
   *
   * With a `store`, it settles only once the final state is committed to the store (or its write
   * failed, which is reported on `'error'`), so a script may exit right after it.
   *
   * Calling it is optional: a failed task never causes an unhandled rejection by itself.
   *
   * @param options.timeout - give up after this many ms; no limit by default.
   */
  wait(options: { timeout?: number | undefined } = {}): Promise<TResult> {
    const timeout = readingArguments('wait()', () => {
      if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
      return checkTimeout('timeout', options.timeout);
    });
    if (isFinalStatus(this._status) && !this._host.unsaved(this as BackgroundTask)) return this._outcome() as Promise<TResult>;
    return new Promise<TResult>((resolve, reject) => {
      const waiter: Waiter = { resolve: resolve as (value: unknown) => void, reject, timer: undefined };
      (this._waiters ??= []).push(waiter);
      if (timeout !== undefined) {
        waiter.timer = this._host.clock.setTimeout(() => {
          const index = this._waiters?.indexOf(waiter) ?? -1;
          if (index >= 0) this._waiters!.splice(index, 1);
          reject(new WaitTimeoutError(this.id, timeout));
        }, timeout);
      }
    });
  }

  /**
   * Cancels the task if it is pending or running: it ends `cancelled` and its work's signal is
   * aborted. Resolves `true` if this call cancelled it, `false` if it had already finished.
   */
  cancel(reason?: string): Promise<boolean> {
    try {
      return Promise.resolve(this._host.cancel(this as BackgroundTask, checkReason(reason)));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** The task as plain JSON. */
  toJSON(): TaskRecord {
    const c = this._context;
    return {
      id: c.taskId,
      name: c.name,
      status: this._status,
      progress: c.progress,
      message: c.message ?? null,
      chunks: c.chunks,
      result: this._status === 'completed' ? jsonSafe(c.result, 'result') : null,
      error: c.error ? { name: c.error.name, message: c.error.message } : null,
      createdAt: new Date(c.createdAt).toISOString(),
      startedAt: c.startedAt === undefined ? null : new Date(c.startedAt).toISOString(),
      completedAt: c.completedAt === undefined ? null : new Date(c.completedAt).toISOString(),
      durationMs: this.durationMs ?? null,
      attempt: c.attempt,
      metadata: jsonSafeEntries(c.metadata),
    };
  }

  /**
   * What `console.log(task)` and `util.inspect(task)` print: a compact summary (id, name, status,
   * attempt, progress, and the result or error), not the handle's internals.
   */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: object, inspect: (value: unknown, options: object) => string): string {
    const c = this._context;
    const summary: Record<string, unknown> = { id: c.taskId, name: c.name, status: this._status, attempt: c.attempt, progress: c.progress };
    if (this._status === 'completed') summary['result'] = c.result;
    if (c.error) summary['error'] = `${c.error.name}: ${c.error.message}`;
    return depth < 0 ? `BackgroundTask <${this._status}>` : `BackgroundTask ${inspect(summary, options)}`;
  }

  /** @internal The registry's view of this task. */
  _summary(): TaskSummary {
    const c = this._context;
    return {
      id: c.taskId,
      name: c.name,
      status: this._status,
      progress: c.progress,
      message: c.message,
      chunks: c.chunks,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      completedAt: c.completedAt,
      error: c.error?.message,
    };
  }

  /** @internal Settles every pending `wait()`; called once, on reaching a final state. */
  _settleWaiters(): void {
    const waiters = this._waiters;
    if (!waiters) return;
    this._waiters = undefined;
    for (const waiter of waiters) {
      if (waiter.timer !== undefined) this._host.clock.clearTimeout(waiter.timer);
      if (this._status === 'completed') waiter.resolve(this._context.result);
      else waiter.reject(this._finalError());
    }
  }

  /** @internal */
  _outcome(): Promise<unknown> {
    return this._status === 'completed' ? Promise.resolve(this._context.result) : Promise.reject(this._finalError());
  }

  /** @internal */
  _finalError(): Error {
    return this._context.error ?? new TaskCancelledError(this.id);
  }
}

function toDate(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}

/**
 * `value` if `JSON.stringify` can write it, else the not-JSON marker naming what it cannot (a
 * cycle, a BigInt, nesting too deep): so `JSON.stringify(task)` and `listTasks()` never throw
 * because of what the work returned or the caller put in `metadata`.
 */
function jsonSafe(value: unknown, path: string): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'bigint')) return value;
  try {
    JSON.stringify(value);
    return value;
  } catch {
    return notJsonMarker(findNotJson(value, path) ?? { path, found: 'a value JSON.stringify cannot write' });
  }
}

/** A copy of `metadata` with each value {@link jsonSafe}. */
function jsonSafeEntries(metadata: Readonly<Record<string, unknown>>): Record<string, unknown> {
  // fromEntries defines own properties, so a `__proto__` key stays data.
  return Object.fromEntries(Object.keys(metadata).map((key) => [key, jsonSafe(metadata[key], `metadata.${key}`)]));
}
