import type { Backoff } from '../machines/task-machine.js';
import type { TaskId, TaskStatus } from '../types.js';

export type { NotJsonMarker } from './json-data.js';

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
  /**
   * The result of a completed task (`null` when it had none). A result that is not JSON data (a
   * BigInt, a cycle, a Map…) is stored as a {@link NotJsonMarker} naming the part that was not,
   * and reported on the runner's `'error'` event.
   */
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

/**
 * A record a store wrote with something left out, or could not write, from {@link TaskStore.write}:
 * the runner reports each on its `'error'` event (source `store`) with the task's id.
 */
export interface WriteIssue {
  readonly id: TaskId;
  readonly error: Error;
  /**
   * Whether the record was written anyway, with a {@link NotJsonMarker} in place of a result or
   * metadata that was not JSON data. `false`: the record was not written (the rest were).
   */
  readonly written: boolean;
}

/** A stored record that cannot be read (a malformed JSON cell, an unknown status). */
export interface CorruptRecord {
  readonly id: TaskId;
  /** Which column is bad, and why. */
  readonly error: Error;
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
 * synchronous: the runner calls `write` once per event-loop turn with every task that changed
 * (sooner when a `submit()` waits for its record: every submit of a turn shares one `write`).
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
  /**
   * Inserts or replaces these records in one transaction. Keeps `cancelRequested`. A record that
   * cannot be written (or only with a marker) does not stop the others: it is returned as a
   * {@link WriteIssue}. Throws when nothing was written; throws `StoreLockedError` when the lock
   * this store acquired has since been taken over (the store is fenced: a runner that lost the
   * lock never writes over the new holder's records).
   */
  write(records: readonly Omit<StoredTask, 'cancelRequested'>[]): readonly WriteIssue[] | void;
  /**
   * Renews the lock's heartbeat and returns the ids of active tasks whose cancel was requested
   * through the store. Called every few hundred ms while the runner holds the store. Throws
   * `StoreLockedError` once another runner has taken the lock over.
   */
  poll(owner: StoreOwner): TaskId[];
  /**
   * The records a runner must reconcile on start: those of other owners that are still active
   * (`pending`, `running`, `retrying`), and final ones not yet delivered. Records that cannot be
   * read are skipped and passed to `onCorrupt`, so one bad row never blocks the others.
   */
  recoverable(owner: StoreOwner, onCorrupt?: (record: CorruptRecord) => void): StoredTask[];
  /** One record, or `undefined`. Throws when the record cannot be read. */
  get(id: TaskId): StoredTask | undefined;
  /** Gives the lock up (when `owner` holds it) and closes the store. Idempotent. */
  release(owner: StoreOwner): void;
}
