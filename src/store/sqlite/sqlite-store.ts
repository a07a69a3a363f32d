import Database from 'better-sqlite3';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { describe, StoreLockedError } from '../../errors.js';
import type { Backoff } from '../../machines/task-machine.js';
import type { StoredError, StoredTask, StoreOwner, TaskStore } from '../task-store.js';
import type { TaskId, TaskStatus } from '../../types.js';

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file; created (with its tables) unless `mustExist`. `':memory:'` works for tests. */
  path: string;
  /** Fail instead of creating a missing file (the CLI uses it). @defaultValue false */
  mustExist?: boolean | undefined;
  /**
   * How old a lock's heartbeat must be, in ms, before another runner may take the lock over even
   * though its process may still exist (a hung process, a reused pid, another host). A lock whose
   * process is gone (same host) is taken over at once. The holder renews it every 250 ms, when its
   * event loop is free: keep it well above your longest synchronous stretch of work.
   * @defaultValue 30_000
   */
  staleAfter?: number | undefined;
}

/** Who holds a store's lock, as {@link SqliteTaskStore.lockHolder} reports it. */
export interface LockHolder {
  readonly owner: string;
  readonly pid: number;
  readonly host: string;
  /** Epoch ms of the last heartbeat. */
  readonly heartbeat: number;
  /** Whether the holder counts as alive: its process exists (same host) and its heartbeat is fresh. */
  readonly live: boolean;
}

/** What {@link SqliteTaskStore.requestCancel} did. */
export type CancelRequest =
  | { readonly outcome: 'not-found' }
  /** The task had already finished; nothing changed. */
  | { readonly outcome: 'finished'; readonly task: StoredTask }
  /** A live runner holds the store: it was asked to cancel and will within a poll (~250 ms). */
  | { readonly outcome: 'requested'; readonly holder: LockHolder }
  /** No runner holds the store: the record was marked cancelled directly. */
  | { readonly outcome: 'cancelled'; readonly task: StoredTask };

const ACTIVE = "('pending', 'running', 'retrying')";
const FINAL = "('completed', 'failed', 'cancelled', 'lost')";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  handler TEXT,
  args TEXT,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  timeout INTEGER,
  retry_on_timeout INTEGER NOT NULL,
  backoff TEXT NOT NULL,
  priority REAL NOT NULL,
  grp TEXT,
  metadata TEXT NOT NULL,
  progress REAL NOT NULL,
  message TEXT,
  result TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  delivered INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE TABLE IF NOT EXISTS lock (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  owner TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  heartbeat INTEGER NOT NULL
);
`;

interface Row {
  id: string;
  name: string;
  handler: string | null;
  args: string | null;
  status: string;
  attempt: number;
  max_attempts: number;
  timeout: number | null;
  retry_on_timeout: number;
  backoff: string;
  priority: number;
  grp: string | null;
  metadata: string;
  progress: number;
  message: string | null;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  delivered: number;
  cancel_requested: number;
  owner: string;
  updated_at: number;
}

interface LockRow {
  owner: string;
  pid: number;
  host: string;
  heartbeat: number;
}

/**
 * A {@link TaskStore} in one SQLite file (WAL mode, through better-sqlite3): what
 * `new BackgroundRunner({ store })` writes every task to, and what the `tasklane` CLI reads.
 * Writes are synchronous transactions; WAL with `synchronous = NORMAL` keeps every committed
 * write across a crash of the process (a power cut may lose the last few).
 *
 * Besides the `TaskStore` methods it has what the CLI needs: `list`, `requestCancel`, `clear`,
 * `lockHolder` and `close`. Those work without holding the lock, alongside a live runner.
 */
export class SqliteTaskStore implements TaskStore {
  readonly location: string;
  readonly #db: Database.Database;
  readonly #staleAfter: number;
  readonly #upsert: Database.Statement<unknown[]>;
  readonly #writeAll: (rows: unknown[][]) => void;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
    const { path, mustExist = false, staleAfter = 30_000 } = options;
    if (typeof path !== 'string' || path === '') throw new TypeError(`Expected \`path\` to be a non-empty string, got ${describe(path)}`);
    if (typeof staleAfter !== 'number' || !(staleAfter > 0)) {
      throw new RangeError(`Expected \`staleAfter\` to be a positive number of milliseconds, got ${describe(staleAfter)}`);
    }
    this.location = path === ':memory:' ? path : resolve(path);
    this.#staleAfter = staleAfter;
    this.#db = new Database(path, { fileMustExist: mustExist, timeout: 5_000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.#upsert = this.#db.prepare(`
      INSERT INTO tasks (id, name, handler, args, status, attempt, max_attempts, timeout, retry_on_timeout, backoff,
        priority, grp, metadata, progress, message, result, error, created_at, started_at, completed_at, delivered,
        owner, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, handler = excluded.handler, args = excluded.args,
        status = excluded.status, attempt = excluded.attempt, max_attempts = excluded.max_attempts,
        timeout = excluded.timeout, retry_on_timeout = excluded.retry_on_timeout, backoff = excluded.backoff,
        priority = excluded.priority, grp = excluded.grp, metadata = excluded.metadata, progress = excluded.progress,
        message = excluded.message, result = excluded.result, error = excluded.error,
        started_at = excluded.started_at, completed_at = excluded.completed_at, delivered = excluded.delivered,
        owner = excluded.owner, updated_at = excluded.updated_at`);
    this.#writeAll = this.#db.transaction((rows: unknown[][]) => {
      for (const row of rows) this.#upsert.run(...row);
    });
  }

  acquire(owner: StoreOwner): void {
    this.#db
      .transaction(() => {
        const lock = this.#db.prepare('SELECT owner, pid, host, heartbeat FROM lock WHERE id = 1').get() as LockRow | undefined;
        if (lock && lock.owner !== owner.id && this.#isLive(lock)) throw new StoreLockedError(this.location, lock.pid, lock.host);
        this.#db
          .prepare('INSERT OR REPLACE INTO lock (id, owner, pid, host, heartbeat) VALUES (1, ?, ?, ?, ?)')
          .run(owner.id, owner.pid, owner.host, Date.now());
      })
      .immediate();
  }

  write(records: readonly Omit<StoredTask, 'cancelRequested'>[]): void {
    const rows: unknown[][] = [];
    for (const r of records) {
      // In the column order of the INSERT above.
      rows.push([
        r.id,
        r.name,
        r.handler,
        r.args === null ? null : JSON.stringify(r.args),
        r.status,
        r.attempt,
        r.maxAttempts,
        r.timeout,
        r.retryOnTimeout ? 1 : 0,
        backoffJson(r.backoff),
        r.priority,
        r.group,
        toJson(r.metadata) ?? '{}',
        r.progress,
        r.message,
        r.status === 'completed' ? toJson(r.result) : null,
        r.error === null ? null : toJson(r.error),
        r.createdAt,
        r.startedAt,
        r.completedAt,
        r.delivered ? 1 : 0,
        r.owner,
        r.updatedAt,
      ]);
    }
    this.#writeAll(rows);
  }

  poll(owner: StoreOwner): TaskId[] {
    const renewed = this.#db.prepare('UPDATE lock SET heartbeat = ? WHERE id = 1 AND owner = ?').run(Date.now(), owner.id);
    // The lock was taken over (this process stalled past `staleAfter`): take it back if its new
    // holder is gone, else throw StoreLockedError, which the runner reports on its 'error' event.
    if (renewed.changes === 0) this.acquire(owner);
    return this.#db
      .prepare(`SELECT id FROM tasks WHERE cancel_requested = 1 AND status IN ${ACTIVE}`)
      .pluck()
      .all() as TaskId[];
  }

  recoverable(owner: StoreOwner): StoredTask[] {
    const rows = this.#db
      .prepare(`SELECT * FROM tasks WHERE owner != ? AND (status IN ${ACTIVE} OR delivered = 0) ORDER BY created_at, rowid`)
      .all(owner.id) as Row[];
    return rows.map(fromRow);
  }

  get(id: TaskId): StoredTask | undefined {
    const row = this.#db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /** Every record, oldest first, optionally only those in `status`. */
  list(options: { status?: TaskStatus | readonly TaskStatus[] | undefined; limit?: number | undefined } = {}): StoredTask[] {
    const statuses = options.status === undefined ? [] : typeof options.status === 'string' ? [options.status] : [...options.status];
    const where = statuses.length > 0 ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
    const limit = options.limit === undefined ? '' : `LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const rows = this.#db.prepare(`SELECT * FROM tasks ${where} ORDER BY created_at, rowid ${limit}`).all(...statuses) as Row[];
    return rows.map(fromRow);
  }

  /**
   * Asks for a task to be cancelled. With a live runner holding the store, marks the record and
   * lets the runner cancel it (it polls every 250 ms); with none, marks the record `cancelled`
   * itself (undelivered, so the next `recover()` hands it to `onRecovered`).
   */
  requestCancel(id: TaskId, reason = 'cancelled through the store'): CancelRequest {
    return this.#db
      .transaction((): CancelRequest => {
        const task = this.get(id);
        if (!task) return { outcome: 'not-found' };
        if (!['pending', 'running', 'retrying'].includes(task.status)) return { outcome: 'finished', task };
        const holder = this.lockHolder();
        if (holder?.live) {
          this.#db.prepare('UPDATE tasks SET cancel_requested = 1 WHERE id = ?').run(id);
          return { outcome: 'requested', holder };
        }
        const error: StoredError = { name: 'TaskCancelledError', message: `Task "${id}" was cancelled: ${reason}` };
        this.#db
          .prepare(
            "UPDATE tasks SET status = 'cancelled', cancel_requested = 1, delivered = 0, error = ?, completed_at = ?, updated_at = ? WHERE id = ?",
          )
          .run(JSON.stringify(error), Date.now(), Date.now(), id);
        return { outcome: 'cancelled', task: this.get(id)! };
      })
      .immediate();
  }

  /** Deletes finished records whose outcome was delivered; returns how many. */
  clear(): number {
    return this.#db.prepare(`DELETE FROM tasks WHERE status IN ${FINAL} AND delivered = 1`).run().changes;
  }

  /** Who holds the lock, or `undefined` when nobody does. */
  lockHolder(): LockHolder | undefined {
    const lock = this.#db.prepare('SELECT owner, pid, host, heartbeat FROM lock WHERE id = 1').get() as LockRow | undefined;
    return lock && { ...lock, live: this.#isLive(lock) };
  }

  release(owner: StoreOwner): void {
    if (this.#closed) return;
    this.#db.prepare('DELETE FROM lock WHERE id = 1 AND owner = ?').run(owner.id);
    this.close();
  }

  /** Closes the database file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #isLive(lock: LockRow): boolean {
    const fresh = Date.now() - lock.heartbeat < this.#staleAfter;
    return fresh && (lock.host !== hostname() || isProcessAlive(lock.pid));
  }
}

/**
 * Opens (or creates) a SQLite task store for `new BackgroundRunner({ store })`.
 *
 * @throws TypeError/RangeError for bad options; better-sqlite3's `SqliteError` when the file
 *   cannot be opened (or is missing with `mustExist`).
 *
 * @example
 * ```ts
 * import { BackgroundRunner } from 'tasklane';
 * import { sqliteStore } from 'tasklane/sqlite';
 *
 * const runner = new BackgroundRunner({ store: sqliteStore({ path: 'tasks.db' }) });
 * runner.define('research', async (topic: string) => lookUp(topic));
 * await runner.recover(); // re-queue what a crashed process left
 * await runner.submit('research', { args: ['AI'] });
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteTaskStore {
  return new SqliteTaskStore(options);
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const backoffTexts = new WeakMap<Backoff, string>();

/** Most tasks share one backoff object: stringify it once. */
function backoffJson(backoff: Backoff): string {
  let text = backoffTexts.get(backoff);
  if (text === undefined) backoffTexts.set(backoff, (text = JSON.stringify(backoff)));
  return text;
}

/** JSON text, or `null` for what JSON cannot hold (`undefined`, a cycle, a BigInt). */
function toJson(value: unknown): string | null {
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}

function parse<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}

function fromRow(row: Row): StoredTask {
  return {
    id: row.id,
    name: row.name,
    handler: row.handler,
    args: parse<unknown[] | null>(row.args, null),
    status: row.status as TaskStatus,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeout: row.timeout,
    retryOnTimeout: row.retry_on_timeout === 1,
    backoff: parse<Backoff>(row.backoff, { type: 'fixed', delay: 0 }),
    priority: row.priority,
    group: row.grp,
    metadata: parse<Record<string, unknown>>(row.metadata, {}),
    progress: row.progress,
    message: row.message,
    result: parse<unknown>(row.result, null),
    error: parse<StoredError | null>(row.error, null),
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    delivered: row.delivered === 1,
    owner: row.owner,
    cancelRequested: row.cancel_requested === 1,
    updatedAt: row.updated_at,
  };
}

export type { StoredError, StoredTask, StoreOwner, TaskStore } from '../task-store.js';
