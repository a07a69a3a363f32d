import type { Backoff } from '../machines/task-machine.js';
import type { TaskId, TaskStatus } from '../types.js';

/** An error as a store keeps it: plain JSON. `cause` is stored the same way, when it is an `Error`. */
export interface StoredError {
  name: string;
  message: string;
  stack?: string | undefined;
  cause?: StoredError | { value: unknown } | undefined;
}

/**
 * One task as a store keeps it: everything needed to show it, to re-queue it after a crash (when
 * it was submitted by name) and to deliver its outcome. Times are epoch milliseconds.
 */
export interface StoredTask {
  id: TaskId;
  name: string;
  /** The handler name for tasks submitted with `submit(name)`; `null` for function tasks. */
  handler: string | null;
  /** The JSON arguments of a named task; `null` for function tasks (functions' args are not stored). */
  args: unknown[] | null;
  status: TaskStatus;
  /** The current or last attempt (0 before the first start). */
  attempt: number;
  maxAttempts: number;
  timeout: number | null;
  retryOnTimeout: boolean;
  backoff: Backoff;
  priority: number;
  group: string | null;
  metadata: Record<string, unknown>;
  progress: number;
  message: string | null;
  /** The result of a completed task (`null` when it had none or it is not JSON-serialisable). */
  result: unknown;
  error: StoredError | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  /**
   * Whether the task's outcome was handed over (its `onComplete` ran, or `onRecovered`/the
   * `'recovered'` event received it). Only meaningful for final states.
   */
  delivered: boolean;
  /** The id of the runner that last wrote the record. */
  owner: string;
  /** Whether a cancel was requested through the store (by the CLI, say) and not yet carried out. */
  cancelRequested: boolean;
  /** When the record was last written. */
  updatedAt: number;
}

/** Who holds a store: written into its lock by {@link TaskStore.acquire}. */
export interface StoreOwner {
  /** A random id per runner. */
  readonly id: string;
  readonly pid: number;
  readonly host: string;
}

/**
 * Where a {@link BackgroundRunner} keeps its tasks so they survive a crash. `tasklane/sqlite`
 * provides one (`sqliteStore({ path })`); any object with these methods will do. Every method is
 * synchronous: the runner calls `write` once per event-loop turn with every task that changed.
 *
 * The runner calls `acquire` in its constructor, `write` and `poll` while it runs, `recoverable`
 * from `runner.recover()`, and `release` from `stop()`.
 *
 * @example
 * ```ts
 * import { sqliteStore } from 'tasklane/sqlite';
 * const runner = new BackgroundRunner({ store: sqliteStore({ path: 'tasks.db' }) });
 * ```
 */
export interface TaskStore {
  /** Where the store is, for messages (a file path). */
  readonly location: string;
  /**
   * Takes the store for `owner`. Throws `StoreLockedError` when another live runner holds it; takes
   * over a lock whose holder has died.
   */
  acquire(owner: StoreOwner): void;
  /** Inserts or replaces these records, all or none (one transaction). Keeps `cancelRequested`. */
  write(records: readonly Omit<StoredTask, 'cancelRequested'>[]): void;
  /**
   * Renews the lock's heartbeat and returns the ids of active tasks whose cancel was requested
   * through the store. Called every few hundred ms while the runner holds the store.
   */
  poll(owner: StoreOwner): TaskId[];
  /**
   * The records a runner must reconcile on start: those of other owners that are still active
   * (`pending`, `running`, `retrying`), and final ones not yet delivered.
   */
  recoverable(owner: StoreOwner): StoredTask[];
  /** One record, or `undefined`. */
  get(id: TaskId): StoredTask | undefined;
  /** Gives the lock up (when `owner` holds it) and closes the store. Idempotent. */
  release(owner: StoreOwner): void;
}
