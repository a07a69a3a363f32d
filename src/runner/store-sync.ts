import type { StoredError, StoredTask, StoreOwner, TaskStore } from '../store/task-store.js';
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
export const POLL_INTERVAL_MS = 250;

/**
 * @internal
 * Keeps a {@link TaskStore} in step with a runner. The runner calls `touch(task)` on every
 * transition; the changed tasks are written in one transaction on the next event-loop turn
 * (`setImmediate`), each as its latest state: transitions within one turn are coalesced, which is
 * what keeps the per-task cost of durability low. A timer (unref'd, every {@link POLL_INTERVAL_MS})
 * renews the lock's heartbeat and picks up cancel requests made through the store.
 *
 * Only created when the runner has a `store`; a runner without one never loads or runs any of this.
 */
export class StoreSync {
  readonly store: TaskStore;
  readonly owner: StoreOwner;
  readonly #dirty = new Set<BackgroundTask>();
  readonly #info = new Map<TaskId, SubmitInfo>();
  /** Final tasks whose outcome nobody received yet (recovered with no `onRecovered` receiver). */
  readonly #undelivered = new Set<TaskId>();
  readonly #onCancelRequested: (ids: TaskId[]) => void;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  #scheduled = false;
  #closed = false;
  /** Whether the last poll failed: a failure is reported once, not every 250 ms. */
  #failing = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: {
    store: TaskStore;
    owner: StoreOwner;
    now: () => number;
    onCancelRequested: (ids: TaskId[]) => void;
    onError: (error: unknown) => void;
  }) {
    this.store = options.store;
    this.owner = options.owner;
    this.#now = options.now;
    this.#onCancelRequested = options.onCancelRequested;
    this.#onError = options.onError;
    // Throws StoreLockedError before anything else happens, so a refused runner leaves no timer.
    this.store.acquire(this.owner);
    this.#timer = setInterval(this.#poll, POLL_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Registers a new task's static facts and schedules its first write. */
  track(task: BackgroundTask, info: SubmitInfo): void {
    this.#info.set(task.id, info);
    this.touch(task);
  }

  /** The static facts of a task this runner tracks. */
  info(id: TaskId): SubmitInfo | undefined {
    return this.#info.get(id);
  }

  /** Marks a recovered final task as not delivered (nobody received it); written as such. */
  setUndelivered(id: TaskId, undelivered: boolean): void {
    if (undelivered) this.#undelivered.add(id);
    else this.#undelivered.delete(id);
  }

  /** Schedules a write of `task`'s current state. */
  touch(task: BackgroundTask): void {
    this.#dirty.add(task);
    if (!this.#scheduled && !this.#closed) {
      this.#scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes every changed task now, in one transaction. Failures are reported and retried on the next poll. */
  readonly flush = (): void => {
    this.#scheduled = false;
    if (this.#dirty.size === 0) return;
    const tasks = [...this.#dirty];
    this.#dirty.clear();
    const now = this.#now();
    const records: Omit<StoredTask, 'cancelRequested'>[] = [];
    for (const task of tasks) records.push(this.#record(task, now));
    try {
      this.store.write(records);
    } catch (error) {
      for (const task of tasks) this.#dirty.add(task);
      this.#onError(error);
      return;
    }
    for (const task of tasks) {
      if (isFinalStatus(task._status)) {
        this.#info.delete(task.id);
        this.#undelivered.delete(task.id);
      }
    }
  };

  /**
   * Ends, in the store only, an active task this runner does not hold (a dead process's task not
   * recovered yet, or one waiting for its handler) whose cancel was requested through the store:
   * the same record a cancel with no runner holding the store writes, so `recover()` delivers it.
   */
  cancelUnheld(id: TaskId, error: Error): void {
    try {
      const row = this.store.get(id);
      if (row === undefined || row.owner === this.owner.id || isFinalStatus(row.status)) return;
      const now = this.#now();
      const { cancelRequested: _, ...rest } = row;
      this.store.write([{ ...rest, status: 'cancelled', error: toStoredError(error), completedAt: now, delivered: false, updatedAt: now }]);
    } catch (failure) {
      this.#onError(failure);
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
    try {
      this.store.release(this.owner);
    } catch (error) {
      this.#onError(error);
    }
  }

  readonly #poll = (): void => {
    if (this.#closed) return;
    if (this.#dirty.size > 0 && !this.#scheduled) this.flush();
    let ids: TaskId[];
    try {
      ids = this.store.poll(this.owner);
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) this.#onError(error);
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

/** @internal An error as plain JSON: name, message, stack and (recursively, 3 deep) cause. */
export function toStoredError(error: unknown, depth = 0): StoredError {
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
