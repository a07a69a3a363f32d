import { isRunnerError } from '../errors.js';
import type { CorruptRecord, StoredError, StoredTask, StoreOwner, TaskStore, WriteIssue } from '../store/task-store.js';
import { isFinalStatus } from '../types.js';
import type { TaskId } from '../types.js';
import type { BackgroundTask } from './background-task.js';

/** What a task's record needs that its machine context does not hold. */
export interface SubmitInfo {
  readonly handler: string | null;
  readonly args: unknown[] | null;
  readonly priority: number;
  readonly group: string | null;
}

/** How often the runner renews its lock and looks for cancel requests, in ms. */
const POLL_INTERVAL_MS = 250;

interface Acknowledgement {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * @internal
 * Keeps a {@link TaskStore} in step with a runner. The runner calls `touch(task)` on every
 * transition; the changed tasks are written in one transaction on the next event-loop turn
 * (`setImmediate`), each as its latest state: transitions within one turn are coalesced, which is
 * what keeps the per-task cost of durability low. A `submit()` resolves once its task is
 * committed, and a final state settles the task's `wait()`s only once it is written (or its write
 * failed and was reported); when a promise waits like this, the write happens sooner, as soon as
 * the current burst of promise jobs is done (`#hurry`): group commit without a timer. A timer (unref'd, every
 * {@link POLL_INTERVAL_MS}) renews the lock's heartbeat and picks up cancel requests made
 * through the store.
 *
 * When the store reports that another runner took its lock over (`StoreLockedError` from `write`
 * or `poll`), the sync stops writing for good and tells the runner, which cancels its tasks: they
 * belong to the new holder now, and nothing this runner still finishes is written over its records.
 *
 * Only created when the runner has a `store`; a runner without one never loads or runs any of this.
 */
export class StoreSync {
  readonly store: TaskStore;
  readonly owner: StoreOwner;
  readonly #dirty = new Set<BackgroundTask>();
  readonly #info = new Map<TaskId, SubmitInfo>();
  /** Submits waiting for their task's first commit. */
  readonly #acks = new Map<BackgroundTask, Acknowledgement>();
  /** Final tasks whose outcome nobody received yet (recovered with no `onRecovered` receiver). */
  readonly #undelivered = new Set<TaskId>();
  readonly #onCancelRequested: (ids: TaskId[]) => void;
  readonly #onUnsaved: (task: BackgroundTask, error: Error) => void;
  readonly #onLockLost: (error: Error) => void;
  readonly #onError: (error: unknown, taskId: TaskId | undefined) => void;
  readonly #now: () => number;
  #scheduled = false;
  #hurried = false;
  #closed = false;
  /** Set once the lock was taken over: nothing is written any more. */
  #lost: Error | undefined;
  /** Whether the last poll failed: a failure is reported once, not every 250 ms. */
  #failing = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: {
    store: TaskStore;
    owner: StoreOwner;
    now: () => number;
    onCancelRequested: (ids: TaskId[]) => void;
    /** A submitted task's record could not be written: the runner cancels it (its submit rejects). */
    onUnsaved: (task: BackgroundTask, error: Error) => void;
    /** Another runner took the lock over: the runner cancels every task it holds. */
    onLockLost: (error: Error) => void;
    onError: (error: unknown, taskId: TaskId | undefined) => void;
  }) {
    this.store = options.store;
    this.owner = options.owner;
    this.#now = options.now;
    this.#onCancelRequested = options.onCancelRequested;
    this.#onUnsaved = options.onUnsaved;
    this.#onLockLost = options.onLockLost;
    this.#onError = options.onError;
    // Throws StoreLockedError before anything else happens, so a refused runner leaves no timer.
    this.store.acquire(this.owner);
    this.#timer = setInterval(this.#poll, POLL_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Registers a new task's static facts and schedules its first write. The args are copied as
   * JSON here, at submit, so what is stored is what was checked, whatever the caller does to
   * its own objects later.
   */
  track(task: BackgroundTask, info: SubmitInfo): void {
    const args = info.args === null ? null : (JSON.parse(JSON.stringify(info.args)) as unknown[]);
    this.#info.set(task.id, args === info.args ? info : { ...info, args });
    this.touch(task);
  }

  /**
   * Resolves once `task`'s record is committed (at once when it already is, or when the store
   * was closed); rejects when its write failed (the runner has then cancelled the task).
   */
  saved(task: BackgroundTask): Promise<void> {
    if (this.#lost !== undefined) return Promise.reject(this.#unsavedError(task, this.#lost));
    if (!this.#dirty.has(task)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#acks.set(task, { resolve, reject });
      this.#hurry();
    });
  }

  /**
   * Whether `task` has changes not yet written that a `wait()` should wait for; if so, hurries
   * their write (see `#hurry`). After `close()` nothing writes them any more (a last write that
   * failed stays unwritten), so nothing is waited for.
   */
  unsaved(task: BackgroundTask): boolean {
    if (this.#closed || !this.#dirty.has(task)) return false;
    this.#hurry();
    return true;
  }

  /** The static facts of a task this runner tracks. */
  info(id: TaskId): SubmitInfo | undefined {
    return this.#info.get(id);
  }

  /**
   * The records a runner must reconcile on start; a record that cannot be read is reported with
   * its id and skipped, so the others still recover.
   */
  recoverable(): StoredTask[] {
    return this.store.recoverable(this.owner, ({ id, error }: CorruptRecord) => this.#onError(error, id));
  }

  /** Marks a recovered final task as not delivered (nobody received it); written as such. */
  setUndelivered(id: TaskId, undelivered: boolean): void {
    if (undelivered) this.#undelivered.add(id);
    else this.#undelivered.delete(id);
  }

  /** Schedules a write of `task`'s current state. */
  touch(task: BackgroundTask): void {
    if (this.#closed || this.#lost !== undefined) {
      // Nothing will be written any more: a final task's waiters must not wait for it.
      if (isFinalStatus(task._status)) task._settleWaiters();
      return;
    }
    this.#dirty.add(task);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushLater);
    }
    // Someone waits for this final state: do not make them wait for the next turn.
    if (task._waiters !== undefined && isFinalStatus(task._status)) this.#hurry();
  }

  /**
   * Writes every changed task now, in one transaction. A failed batch is reported and retried on
   * the next poll; a record the store could not write is reported with its task id, and the
   * rest of the batch is committed. Returns the first failure, if any.
   */
  flush(): Error | undefined {
    if (this.#dirty.size === 0 || this.#lost !== undefined) return this.#lost;
    const tasks = [...this.#dirty];
    this.#dirty.clear();
    const now = this.#now();
    const records: Omit<StoredTask, 'cancelRequested'>[] = [];
    for (const task of tasks) records.push(this.#record(task, now));
    let issues: readonly WriteIssue[];
    try {
      issues = this.store.write(records) ?? [];
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      if (isLockLost(error)) {
        this.#loseLock(error);
        return error;
      }
      this.#onError(error, undefined);
      for (const task of tasks) {
        const ack = this.#acks.get(task);
        if (ack !== undefined) this.#unsaved(task, ack, error);
        // Retried on the next poll, but a final task's waiters do not wait for that.
        else this.#dirty.add(task);
        if (isFinalStatus(task._status)) task._settleWaiters();
      }
      return error;
    }
    let failed: Map<TaskId, Error> | undefined;
    for (const issue of issues) {
      this.#onError(issue.error, issue.id);
      if (!issue.written) (failed ??= new Map()).set(issue.id, issue.error);
    }
    for (const task of tasks) {
      const error = failed?.get(task.id);
      const ack = this.#acks.get(task);
      if (ack !== undefined) {
        if (error === undefined) {
          this.#acks.delete(task);
          ack.resolve();
        } else {
          this.#unsaved(task, ack, error);
        }
      }
      if (isFinalStatus(task._status)) {
        if (error === undefined) {
          this.#info.delete(task.id);
          this.#undelivered.delete(task.id);
        }
        task._settleWaiters();
      }
    }
    return failed?.values().next().value;
  }

  /**
   * Ends, in the store only, an active task this runner does not hold (a dead process's task not
   * recovered yet, or one waiting for its handler) whose cancel was requested through the store:
   * the same record a cancel with no runner holding the store writes, so `recover()` delivers it.
   */
  cancelUnheld(id: TaskId, error: Error): void {
    if (this.#lost !== undefined) return;
    try {
      const row = this.store.get(id);
      if (row === undefined || row.owner === this.owner.id || isFinalStatus(row.status)) return;
      const now = this.#now();
      const { cancelRequested: _, ...rest } = row;
      const issues = this.store.write([
        { ...rest, status: 'cancelled', error: toStoredError(error), completedAt: now, delivered: false, updatedAt: now },
      ]);
      for (const issue of issues ?? []) this.#onError(issue.error, issue.id);
    } catch (failure) {
      if (isLockLost(failure)) this.#loseLock(failure);
      else this.#onError(failure, id);
    }
  }

  /**
   * Flushes, stops polling and releases the store. Idempotent. A failed release is reported like
   * any store failure and does not throw: `stop()` must still finish (the lock then goes stale).
   */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    for (const [task, ack] of this.#acks) this.#unsaved(task, ack, new Error('the runner stopped before the record was written'));
    try {
      this.store.release(this.owner);
    } catch (error) {
      this.#onError(error, undefined);
    }
  }

  /**
   * Writes at the end of the current burst of promise jobs (`process.nextTick` runs once the
   * microtask queue is drained), for a promise that waits for the write: every `submit()` of a
   * synchronous stretch still shares one transaction, a task that also finished in it is written
   * once, and no timer is involved, so fake timers cannot hold an acknowledgement back.
   */
  #hurry(): void {
    if (this.#hurried || this.#closed) return;
    this.#hurried = true;
    process.nextTick(this.#flushHurried);
  }

  readonly #flushHurried = (): void => {
    this.#hurried = false;
    this.flush();
  };

  readonly #flushLater = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  #unsaved(task: BackgroundTask, ack: Acknowledgement, cause: Error): void {
    this.#acks.delete(task);
    const error = this.#unsavedError(task, cause);
    this.#onUnsaved(task, error);
    ack.reject(error);
  }

  #unsavedError(task: BackgroundTask, cause: Error): Error {
    return new Error(
      `Task "${task.id}" was cancelled: its record could not be written to the store ${this.store.location} (${cause.message})`,
      {
        cause,
      },
    );
  }

  /** The lock is another runner's now: write nothing more, and let the runner give its tasks up. */
  #loseLock(error: Error): void {
    if (this.#lost !== undefined) return;
    this.#lost = error;
    clearInterval(this.#timer);
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    this.#onError(error, undefined);
    for (const [task, ack] of this.#acks) this.#unsaved(task, ack, error);
    for (const task of dirty) if (isFinalStatus(task._status)) task._settleWaiters();
    this.#onLockLost(error);
  }

  readonly #poll = (): void => {
    if (this.#closed || this.#lost !== undefined) return;
    if (this.#dirty.size > 0 && !this.#scheduled) this.flush();
    let ids: TaskId[];
    try {
      ids = this.store.poll(this.owner);
      this.#failing = false;
    } catch (error) {
      if (isLockLost(error)) {
        this.#loseLock(error);
        return;
      }
      if (!this.#failing) this.#onError(error, undefined);
      this.#failing = true;
      return;
    }
    if (ids.length > 0) this.#onCancelRequested(ids);
  };

  #record(task: BackgroundTask, now: number): Omit<StoredTask, 'cancelRequested'> {
    const c = task._context;
    const info = this.#info.get(task.id);
    const status = task._status;
    return {
      id: c.taskId,
      name: c.name,
      handler: info?.handler ?? null,
      args: info?.args ?? null,
      status,
      attempt: c.attempt,
      maxAttempts: c.maxAttempts,
      timeout: c.timeout ?? null,
      retryOnTimeout: c.retryOnTimeout,
      backoff: c.backoff,
      priority: info?.priority ?? 0,
      group: info?.group ?? null,
      metadata: c.metadata as Record<string, unknown>,
      progress: c.progress,
      message: c.message ?? null,
      result: status === 'completed' ? c.result : null,
      error: c.error ? toStoredError(c.error) : null,
      createdAt: c.createdAt,
      startedAt: c.startedAt ?? null,
      completedAt: c.completedAt ?? null,
      // Callbacks run synchronously in the transition that made the task final, before this write.
      delivered: isFinalStatus(status) && !this.#undelivered.has(task.id),
      owner: this.owner.id,
      updatedAt: now,
    };
  }
}

/** Whether a store refused a write because another runner holds its lock now. */
function isLockLost(error: unknown): error is Error {
  return isRunnerError(error) && error.name === 'StoreLockedError';
}

/** @internal An error as plain JSON: name, message, stack and (recursively, 3 deep) cause. */
function toStoredError(error: unknown, depth = 0): StoredError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const stored: StoredError = { name: error.name, message: error.message };
  if (error.stack !== undefined) stored.stack = error.stack;
  if (error.cause !== undefined && depth < 3) {
    stored.cause = error.cause instanceof Error ? toStoredError(error.cause, depth + 1) : { value: jsonSafe(error.cause) };
  }
  return stored;
}

/** @internal Turns a stored error back into an `Error` with the same name, message and stack. */
export function fromStoredError(stored: StoredError): Error {
  const error = new Error(stored.message);
  error.name = stored.name;
  if (stored.stack !== undefined) error.stack = stored.stack;
  if (stored.cause !== undefined) {
    (error as { cause?: unknown }).cause = 'value' in stored.cause ? stored.cause.value : fromStoredError(stored.cause);
  }
  return error;
}

function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
  } catch {
    return String(value);
  }
}
