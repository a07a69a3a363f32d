import type { Observer, Subscription } from 'xstate';
import { TaskCancelledError, WaitTimeoutError } from '../errors.js';
import type { AttemptRecord, TaskActor, TaskMachineContext, TaskSnapshot } from '../machines/task-machine.js';
import { isFinalStatus } from '../types.js';
import type { TaskId, TaskStatus } from '../types.js';
import { checkTimeout, invalid } from '../validate.js';
import type { RunnerClock } from './options.js';
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
  cancel(task: BackgroundTask, reason: string | undefined): boolean | Promise<boolean>;
}

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
  /** @internal */
  _status: TaskStatus = 'pending';
  /** @internal */
  _context: TaskMachineContext;
  /** @internal The task's actor, once someone has looked at it. */
  _actor: TaskActor | undefined;
  /** @internal The timeout timer of an actor-less running task. */
  _timer: unknown;
  /** @internal */
  _waiters: Waiter[] | undefined;
  /** @internal */
  readonly _host: TaskHost;
  // Typed loosely so a BackgroundTask<number> is still a BackgroundTask<unknown>.
  /** @internal */
  readonly _onComplete: ((task: AnyTask) => void) | undefined;
  /** @internal */
  readonly _onProgress: ((progress: number, message: string | undefined, task: AnyTask) => void) | undefined;
  /** @internal */
  readonly _onChunk: ((chunk: unknown, task: AnyTask) => void) | undefined;

  /** @internal Created by `BackgroundRunner#submit`. */
  constructor(
    host: TaskHost,
    context: TaskMachineContext,
    onComplete: ((task: BackgroundTask<TResult>) => void) | undefined,
    onProgress: ((progress: number, message: string | undefined, task: BackgroundTask<TResult>) => void) | undefined,
    onChunk?: ((chunk: never, task: BackgroundTask<TResult>) => void) | undefined,
  ) {
    this._host = host;
    this._context = context;
    this._onComplete = onComplete as BackgroundTask['_onComplete'];
    this._onProgress = onProgress as BackgroundTask['_onProgress'];
    this._onChunk = onChunk as BackgroundTask['_onChunk'];
  }

  /** A random UUID. */
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

  /** The task actor's current snapshot (`value` is the status, `context` the data). */
  getSnapshot(): TaskSnapshot {
    return this.actor.getSnapshot();
  }

  /**
   * Observes the task actor's snapshots: one per transition and progress report. Completes after
   * the final state. Same as `task.actor.subscribe(observer)`.
   *
   * @example
   * ```ts
   * task.subscribe((snapshot) => console.log(snapshot.value, snapshot.context.progress));
   * ```
   */
  subscribe(observer: Observer<TaskSnapshot> | ((snapshot: TaskSnapshot) => void)): Subscription {
    return this.actor.subscribe(observer as Observer<TaskSnapshot>);
  }

  /**
   * Waits for the task to finish. Resolves with the result when it completes; rejects with the
   * work's error when it fails (`TaskTimeoutError` on timeout), with `TaskCancelledError` when it is
   * cancelled, and with `WaitTimeoutError` when `timeout` ms pass first: the task keeps running.
   *
   * Calling it is optional: a failed task never causes an unhandled rejection by itself.
   *
   * @param options.timeout - give up after this many ms; no limit by default.
   */
  wait(options: { timeout?: number | undefined } = {}): Promise<TResult> {
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    const timeout = checkTimeout('timeout', options.timeout);
    if (isFinalStatus(this._status)) return this._outcome() as Promise<TResult>;
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
    return Promise.resolve(this._host.cancel(this as BackgroundTask, reason));
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
      result: this._status === 'completed' ? c.result : null,
      error: c.error ? { name: c.error.name, message: c.error.message } : null,
      createdAt: new Date(c.createdAt).toISOString(),
      startedAt: c.startedAt === undefined ? null : new Date(c.startedAt).toISOString(),
      completedAt: c.completedAt === undefined ? null : new Date(c.completedAt).toISOString(),
      durationMs: this.durationMs ?? null,
      attempt: c.attempt,
      metadata: { ...c.metadata },
    };
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
