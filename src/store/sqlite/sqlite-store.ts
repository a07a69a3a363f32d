import type BetterSqlite3 from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { describe, StoreLockedError } from '../../errors.js';
import type { Backoff } from '../../machines/task-machine.js';
import type { StoredError, StoredTask, StoreOwner, TaskStore } from '../task-store.js';
import { TaskStatus } from '../../types.js';
import type { TaskId } from '../../types.js';
import { findNotJson, notJsonMarker } from '../json-data.js';
import type { CorruptRecord, WriteIssue } from '../task-store.js';
import { importPeer } from '../../peer.js';

const { default: Database } = await importPeer('better-sqlite3', 'tasklane/sqlite', () => import('better-sqlite3'));

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file; created (with its tables) unless `mustExist` or `readonly`. `':memory:'` works for tests. */
  path: string;
  /** Fail instead of creating a missing file (the CLI uses it). @defaultValue false */
  mustExist?: boolean | undefined;
  /**
   * Open the file read-only: nothing is created, migrated or written (not even the WAL switch),
   * so it works on a file you may not write. Only the reading methods work (`list`, `get`,
   * `findIds`, `lockHolder`, `recoverable`); the file must exist. @defaultValue false
   */
  readonly?: boolean | undefined;
  /**
   * How old a lock's heartbeat must be, in ms, before another runner may take the lock over even
   * though its process may still exist (a hung process, a reused pid, another host). A lock whose
   * process is gone (same host) is taken over at once. The holder renews it every 250 ms, when its
   * event loop is free: keep it well above your longest synchronous stretch of work. A runner whose
   * lock was taken over stops writing (its writes are fenced) and cancels its tasks.
   * @defaultValue 30_000
   */
  staleAfter?: number | undefined;
  /**
   * Retention: delete finished tasks whose outcome was delivered once they finished this many ms
   * ago. The runner holding the store sweeps at most once a minute (and on its first poll).
   * Without it the file keeps every task (~250 bytes each) until `tasklane clear`.
   * @defaultValue undefined (keep everything)
   */
  removeFinishedAfter?: number | undefined;
}

/** Who holds a store's lock, as {@link SqliteTaskStore.lockHolder} reports it. */
export interface LockHolder {
  readonly owner: string;
  readonly pid: number;
  readonly host: string;
  /** Epoch ms of the last heartbeat. */
  readonly heartbeat: number;
  /** Whether the holder's process exists (same host), or, on another host, its heartbeat is fresh. */
  readonly running: boolean;
  /** Whether the holder counts as alive: its process exists (same host) and its heartbeat is fresh. */
  readonly live: boolean;
}

/** What {@link SqliteTaskStore.requestCancel} did. */
export type CancelRequest =
  | { readonly outcome: 'not-found' }
  /** The task had already finished; nothing changed. */
  | { readonly outcome: 'finished'; readonly task: StoredTask }
  /**
   * A runner holds the store: it was asked to cancel and will within a poll (~250 ms) of its
   * event loop being free. `holder.live` is `false` when its heartbeat is stale (it is stalled):
   * the task may still finish first.
   */
  | { readonly outcome: 'requested'; readonly holder: LockHolder }
  /**
   * No running runner holds the store: the record was marked cancelled directly, and the lock
   * fenced, so a runner that comes back from a stall cannot write over it.
   */
  | { readonly outcome: 'cancelled'; readonly task: StoredTask };

/** `PRAGMA application_id` of a tasklane database: "TSKL". */
const APPLICATION_ID = 0x54534b4c;
/** `PRAGMA user_version`: the schema version this code writes. */
const SCHEMA_VERSION = 2;
const STATUSES: ReadonlySet<string> = new Set<string>(Object.values(TaskStatus));
/** How often retention sweeps at most, in ms. */
const SWEEP_EVERY_MS = 60_000;

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
  heartbeat INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0
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
  epoch: number;
}

/**
 * A {@link TaskStore} in one SQLite file (WAL mode, through better-sqlite3): what
 * `new BackgroundRunner({ store })` writes every task to, and what the `tasklane` CLI reads.
 * Writes are synchronous transactions; WAL with `synchronous = NORMAL` keeps every committed
 * write across a crash of the process (a power cut may lose the last few).
 *
 * The file is marked as tasklane's (`PRAGMA application_id` and `user_version`): a file that is
 * not empty and not marked (another program's database) is refused and left untouched.
 *
 * Besides the `TaskStore` methods it has what the CLI needs: `list`, `findIds`, `requestCancel`,
 * `clear`, `lockHolder` and `close`. Those work without holding the lock, alongside a live runner.
 */
export class SqliteTaskStore implements TaskStore {
  readonly location: string;
  #db!: BetterSqlite3.Database;
  readonly #staleAfter: number;
  readonly #readonly: boolean;
  readonly #removeFinishedAfter: number | undefined;
  #nextSweep = 0;
  #upsert: BetterSqlite3.Statement<unknown[]> | undefined;
  #selectLock: BetterSqlite3.Statement<[], LockRow> | undefined;
  /** Runs the fenced upserts of one `write` (built once: a transaction wrapper per call costs). */
  #writeRows: BetterSqlite3.Transaction<(rows: unknown[][], issues: WriteIssue[]) => void> | undefined;
  /** The lock this store acquired: every write checks it is still ours (the fence). */
  #held: { readonly owner: string; readonly epoch: number } | undefined;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    if (options === null || typeof options !== 'object')
      throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
    const { path, mustExist = false, readonly = false, staleAfter = 30_000, removeFinishedAfter } = options;
    if (typeof path !== 'string' || path === '') throw new TypeError(`Expected \`path\` to be a non-empty string, got ${describe(path)}`);
    if (typeof staleAfter !== 'number' || !(staleAfter > 0)) {
      throw new RangeError(`Expected \`staleAfter\` to be a positive number of milliseconds, got ${describe(staleAfter)}`);
    }
    if (typeof readonly !== 'boolean') throw new TypeError(`Expected \`readonly\` to be a boolean, got ${describe(readonly)}`);
    if (removeFinishedAfter !== undefined && (typeof removeFinishedAfter !== 'number' || !(removeFinishedAfter >= 0))) {
      throw new RangeError(
        `Expected \`removeFinishedAfter\` to be a number of milliseconds (0 or more), or undefined to keep every task, got ${describe(removeFinishedAfter)}`,
      );
    }
    this.location = path === ':memory:' ? path : resolve(path);
    this.#staleAfter = staleAfter;
    this.#readonly = readonly;
    this.#removeFinishedAfter = removeFinishedAfter;
    let db = new Database(path, { fileMustExist: mustExist || readonly, readonly, timeout: 5_000 });
    try {
      this.#db = db;
      this.#open();
    } catch (error) {
      db.close();
      // A WAL file read where SQLite may not create its -shm (a read-only directory): read a copy.
      const snapshot = readonly && (error as { code?: string }).code === 'SQLITE_READONLY_DIRECTORY' ? readSnapshot(path) : undefined;
      if (snapshot === undefined) throw error;
      db = new Database(snapshot, { readonly: true });
      this.#db = db;
      try {
        this.#open();
      } catch (inner) {
        db.close();
        throw inner;
      }
    }
  }

  /** Checks the file is tasklane's (or empty) before changing anything, then readies it. */
  #open(): void {
    const db = this.#db;
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    // Files written before the schema was marked: our two tables and nothing else.
    const legacy = applicationId === 0 && tables.length === 2 && tables.includes('tasks') && tables.includes('lock');
    if (applicationId !== APPLICATION_ID && !legacy && !(tables.length === 0 && !this.#readonly)) {
      throw new Error(
        `${this.location} is not a tasklane task database (application_id ${applicationId}, tables: ${tables.join(', ') || 'none'}); ` +
          'tasklane leaves it untouched: pass the path of a file a runner created, or of a new file',
      );
    }
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `${this.location} was written by a newer tasklane (schema ${version}; this one knows ${SCHEMA_VERSION}): upgrade tasklane`,
      );
    }
    if (this.#readonly) return;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.transaction(() => {
      db.exec(SCHEMA);
      const lockColumns = db.prepare("SELECT name FROM pragma_table_info('lock')").pluck().all() as string[];
      if (!lockColumns.includes('epoch')) db.exec('ALTER TABLE lock ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0');
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  }

  acquire(owner: StoreOwner): void {
    this.#writable('acquire');
    this.#db
      .transaction(() => {
        const lock = this.#lock();
        if (lock && lock.owner !== owner.id && this.#isLive(lock)) throw new StoreLockedError(this.location, lock.pid, lock.host);
        // A new epoch per holder: writes of an earlier holder no longer match it (the fence).
        const epoch = (lock?.epoch ?? 0) + 1;
        this.#db
          .prepare('INSERT OR REPLACE INTO lock (id, owner, pid, host, heartbeat, epoch) VALUES (1, ?, ?, ?, ?, ?)')
          .run(owner.id, owner.pid, owner.host, Date.now(), epoch);
        this.#held = { owner: owner.id, epoch };
      })
      .immediate();
  }

  write(records: readonly Omit<StoredTask, 'cancelRequested'>[]): WriteIssue[] {
    this.#writable('write');
    const issues: WriteIssue[] = [];
    const rows: unknown[][] = [];
    for (const r of records) {
      try {
        rows.push(this.#row(r, issues));
      } catch (error) {
        issues.push({ id: r.id, error: asError(error), written: false });
      }
    }
    this.#writeRows ??= this.#db.transaction((batch: unknown[][], found: WriteIssue[]) => {
      this.#fence();
      const upsert = this.#upsertStatement();
      for (const row of batch) {
        try {
          upsert.run(...row);
        } catch (error) {
          // SQLite undoes only the failed statement: the rest of the batch still commits.
          found.push({ id: row[0] as TaskId, error: asError(error), written: false });
        }
      }
    });
    this.#writeRows.immediate(rows, issues);
    return issues;
  }

  poll(owner: StoreOwner): TaskId[] {
    this.#writable('poll');
    const held = this.#held;
    const renewed =
      held?.owner === owner.id
        ? this.#db.prepare('UPDATE lock SET heartbeat = ? WHERE id = 1 AND owner = ? AND epoch = ?').run(Date.now(), owner.id, held.epoch)
        : { changes: 0 };
    // The lock was taken over (this process stalled past `staleAfter`): it is the new holder's now.
    if (renewed.changes === 0) throw this.#lockedError();
    const now = Date.now();
    if (this.#removeFinishedAfter !== undefined && now >= this.#nextSweep) {
      this.#nextSweep = now + Math.min(SWEEP_EVERY_MS, Math.max(1_000, this.#removeFinishedAfter));
      this.clear({ olderThan: this.#removeFinishedAfter });
    }
    return this.#db.prepare(`SELECT id FROM tasks WHERE cancel_requested = 1 AND status IN ${ACTIVE}`).pluck().all() as TaskId[];
  }

  recoverable(owner: StoreOwner, onCorrupt?: (record: CorruptRecord) => void): StoredTask[] {
    const rows = this.#db
      .prepare(`SELECT * FROM tasks WHERE owner != ? AND (status IN ${ACTIVE} OR delivered = 0) ORDER BY created_at, rowid`)
      .all(owner.id) as Row[];
    return readRows(rows, onCorrupt);
  }

  /** One record, or `undefined`. @throws Error naming the task and the column when the record cannot be read. */
  get(id: TaskId): StoredTask | undefined {
    const row = this.#db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /**
   * Every record, oldest first, optionally only those in `status`. Records that cannot be read
   * are skipped and passed to `onCorrupt` (without it, the first one throws).
   */
  list(
    options: { status?: TaskStatus | readonly TaskStatus[] | undefined; limit?: number | undefined } = {},
    onCorrupt?: (record: CorruptRecord) => void,
  ): StoredTask[] {
    const statuses = options.status === undefined ? [] : typeof options.status === 'string' ? [options.status] : [...options.status];
    const where = statuses.length > 0 ? `WHERE status IN (${statuses.map(() => '?').join(', ')})` : '';
    const limit = options.limit === undefined ? '' : `LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const rows = this.#db.prepare(`SELECT * FROM tasks ${where} ORDER BY created_at, rowid ${limit}`).all(...statuses) as Row[];
    return readRows(rows, onCorrupt);
  }

  /** The ids that start with `prefix` (at most `limit`, default 2: enough to tell a unique prefix). */
  findIds(prefix: string, limit = 2): TaskId[] {
    const pattern = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return this.#db.prepare(`SELECT id FROM tasks WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?`).pluck().all(pattern, limit) as TaskId[];
  }

  /**
   * Asks for a task to be cancelled. With a running runner holding the store, marks the record and
   * lets the runner cancel it (it polls every 250 ms); with none, marks the record `cancelled`
   * itself (undelivered, so the next `recover()` hands it to `onRecovered`) and fences the lock.
   */
  requestCancel(id: TaskId, reason = 'cancelled through the store'): CancelRequest {
    this.#writable('requestCancel');
    return this.#db
      .transaction((): CancelRequest => {
        const task = this.get(id);
        if (!task) return { outcome: 'not-found' };
        if (!ACTIVE_STATUSES.has(task.status)) return { outcome: 'finished', task };
        const holder = this.lockHolder();
        if (holder?.running) {
          this.#db.prepare('UPDATE tasks SET cancel_requested = 1 WHERE id = ?').run(id);
          return { outcome: 'requested', holder };
        }
        const error: StoredError = { name: 'TaskCancelledError', message: `Task "${id}" was cancelled: ${reason}` };
        const now = Date.now();
        this.#db
          .prepare(
            "UPDATE tasks SET status = 'cancelled', cancel_requested = 1, delivered = 0, error = ?, completed_at = ?, updated_at = ? WHERE id = ?",
          )
          .run(JSON.stringify(error), now, now, id);
        // A holder that only looked dead (another host, a stall) must not write over this.
        this.#db.prepare('UPDATE lock SET epoch = epoch + 1 WHERE id = 1').run();
        return { outcome: 'cancelled', task: this.get(id)! };
      })
      .immediate();
  }

  /**
   * Deletes finished records whose outcome was delivered (with `olderThan`, only those that
   * finished at least that many ms ago); returns how many.
   */
  clear(options: { olderThan?: number | undefined } = {}): number {
    this.#writable('clear');
    const { olderThan } = options;
    if (olderThan === undefined) return this.#db.prepare(`DELETE FROM tasks WHERE status IN ${FINAL} AND delivered = 1`).run().changes;
    if (typeof olderThan !== 'number' || !(olderThan >= 0)) {
      throw new RangeError(`Expected \`olderThan\` to be a number of milliseconds (0 or more), got ${describe(olderThan)}`);
    }
    return this.#db
      .prepare(`DELETE FROM tasks WHERE status IN ${FINAL} AND delivered = 1 AND coalesce(completed_at, updated_at) <= ?`)
      .run(Date.now() - olderThan).changes;
  }

  /** Who holds the lock, or `undefined` when nobody does. */
  lockHolder(): LockHolder | undefined {
    const lock = this.#lock();
    return (
      lock && {
        owner: lock.owner,
        pid: lock.pid,
        host: lock.host,
        heartbeat: lock.heartbeat,
        running: this.#isRunning(lock),
        live: this.#isLive(lock),
      }
    );
  }

  release(owner: StoreOwner): void {
    if (this.#closed) return;
    if (!this.#readonly && this.#held?.owner === owner.id) {
      this.#db.prepare('DELETE FROM lock WHERE id = 1 AND owner = ? AND epoch = ?').run(owner.id, this.#held.epoch);
    }
    this.#held = undefined;
    this.close();
  }

  /** Closes the database file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #writable(method: string): void {
    if (this.#readonly)
      throw new TypeError(`Cannot ${method}() a store opened with \`readonly: true\`; open it without \`readonly\` to change it`);
  }

  #lock(): LockRow | undefined {
    this.#selectLock ??= this.#db.prepare<[], LockRow>('SELECT owner, pid, host, heartbeat, epoch FROM lock WHERE id = 1');
    return this.#selectLock.get();
  }

  /** Throws StoreLockedError unless the lock is still the one this store acquired (when it acquired one). */
  #fence(): void {
    const held = this.#held;
    if (held === undefined) return;
    const lock = this.#lock();
    if (lock?.owner !== held.owner || lock.epoch !== held.epoch) throw this.#lockedError(lock);
  }

  #lockedError(lock = this.#lock()): StoreLockedError {
    if (lock === undefined) {
      return new StoreLockedError(
        this.location,
        0,
        'no host',
        `This runner no longer holds the lock of the task store ${this.location}: another runner took it over (and has released it since); start a new runner on the store to go on`,
      );
    }
    return new StoreLockedError(
      this.location,
      lock?.pid ?? 0,
      lock?.owner === this.#held?.owner ? 'this host (the lock was fenced)' : (lock?.host ?? 'an unknown host'),
    );
  }

  #upsertStatement(): BetterSqlite3.Statement<unknown[]> {
    this.#upsert ??= this.#db.prepare(`
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
    return this.#upsert;
  }

  /** One record as the INSERT's parameters, in its column order; a value JSON cannot keep becomes a marker. */
  #row(r: Omit<StoredTask, 'cancelRequested'>, issues: WriteIssue[]): unknown[] {
    const json = (value: unknown, path: string): string | null => {
      const problem = findNotJson(value, path);
      if (problem === undefined) return JSON.stringify(value) ?? null;
      issues.push({
        id: r.id,
        error: new TypeError(
          `Task "${r.id}": \`${problem.path}\` is not JSON data (${problem.found}); stored a marker that says so instead`,
        ),
        written: true,
      });
      return JSON.stringify(notJsonMarker(problem));
    };
    return [
      r.id,
      r.name,
      r.handler,
      r.args === null ? null : argsJson(r.args),
      r.status,
      r.attempt,
      r.maxAttempts,
      r.timeout,
      r.retryOnTimeout ? 1 : 0,
      backoffJson(r.backoff),
      r.priority,
      r.group,
      metadataJson(r.metadata, json),
      r.progress,
      r.message,
      r.status === 'completed' ? json(r.result, 'result') : null,
      r.error === null ? null : JSON.stringify(r.error),
      r.createdAt,
      r.startedAt,
      r.completedAt,
      r.delivered ? 1 : 0,
      r.owner,
      r.updatedAt,
    ];
  }

  /** Whether the holder's process exists (same host) or, elsewhere, its heartbeat is fresh. */
  #isRunning(lock: LockRow): boolean {
    return lock.host === hostname() ? isProcessAlive(lock.pid) : Date.now() - lock.heartbeat < this.#staleAfter;
  }

  #isLive(lock: LockRow): boolean {
    const fresh = Date.now() - lock.heartbeat < this.#staleAfter;
    return fresh && (lock.host !== hostname() || isProcessAlive(lock.pid));
  }
}

const ACTIVE_STATUSES: ReadonlySet<string> = new Set(['pending', 'running', 'retrying']);

/**
 * Opens (or creates) a SQLite task store for `new BackgroundRunner({ store })`.
 *
 * @throws TypeError/RangeError for bad options; an `Error` for a file that is not a tasklane
 *   database; better-sqlite3's `SqliteError` when the file cannot be opened (or is missing with
 *   `mustExist` or `readonly`).
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

/**
 * The file's bytes, marked as a rollback-journal database so an in-memory copy opens without the
 * WAL's shared memory; `undefined` when a -wal file holds writes the copy would miss.
 */
function readSnapshot(path: string): Buffer | undefined {
  if (existsSync(`${path}-wal`)) return undefined;
  const bytes = readFileSync(path);
  // Header bytes 18–19 are the file format's write/read versions: 2 means WAL, 1 rollback journal.
  if (bytes.length >= 20) bytes[18] = bytes[19] = 1;
  return bytes;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

const backoffTexts = new WeakMap<Backoff, string>();

/** Most tasks share one backoff object: stringify it once. */
function backoffJson(backoff: Backoff): string {
  let text = backoffTexts.get(backoff);
  if (text === undefined) backoffTexts.set(backoff, (text = JSON.stringify(backoff)));
  return text;
}

const argsTexts = new WeakMap<readonly unknown[], string>();

/**
 * A task's args are the snapshot taken (and checked) at submit, the same array at every write:
 * stringify them once.
 */
function argsJson(args: readonly unknown[]): string {
  let text = argsTexts.get(args);
  if (text === undefined) argsTexts.set(args, (text = JSON.stringify(args)));
  return text;
}

const metadataTexts = new WeakMap<object, string>();

/** Metadata is one object per task, written at every transition: check and stringify it once. */
function metadataJson(metadata: Record<string, unknown>, json: (value: unknown, path: string) => string | null): string {
  let text = metadataTexts.get(metadata);
  if (text === undefined) metadataTexts.set(metadata, (text = json(metadata, 'metadata') ?? '{}'));
  return text;
}

class CorruptCell extends Error {}

function parse<T>(row: Row, column: keyof Row, fallback: T): T {
  const text = row[column] as string | null;
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CorruptCell(`Task "${row.id}" cannot be read: its \`${column}\` cell is not valid JSON (${(error as Error).message})`);
  }
}

/** The records of `rows`; one that cannot be read goes to `onCorrupt` (or throws without it). */
function readRows(rows: Row[], onCorrupt: ((record: CorruptRecord) => void) | undefined): StoredTask[] {
  const tasks: StoredTask[] = [];
  for (const row of rows) {
    try {
      tasks.push(fromRow(row));
    } catch (error) {
      if (!(error instanceof CorruptCell) || onCorrupt === undefined) throw error;
      onCorrupt({ id: row.id, error });
    }
  }
  return tasks;
}

function fromRow(row: Row): StoredTask {
  if (!STATUSES.has(row.status))
    throw new CorruptCell(`Task "${row.id}" cannot be read: its \`status\` cell holds ${JSON.stringify(row.status)}, not a task status`);
  return {
    id: row.id,
    name: row.name,
    handler: row.handler,
    args: parse<unknown[] | null>(row, 'args', null),
    status: row.status as TaskStatus,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeout: row.timeout,
    retryOnTimeout: row.retry_on_timeout === 1,
    backoff: parse<Backoff>(row, 'backoff', { type: 'fixed', delay: 0 }),
    priority: row.priority,
    group: row.grp,
    metadata: parse<Record<string, unknown>>(row, 'metadata', {}),
    progress: row.progress,
    message: row.message,
    result: parse<unknown>(row, 'result', null),
    error: parse<StoredError | null>(row, 'error', null),
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    delivered: row.delivered === 1,
    owner: row.owner,
    cancelRequested: row.cancel_requested === 1,
    updatedAt: row.updated_at,
  };
}

export type { CorruptRecord, NotJsonMarker, StoredError, StoredTask, StoreOwner, TaskStore, WriteIssue } from '../task-store.js';
