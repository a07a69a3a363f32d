/**
 * The `tasklane` command: lists, shows, cancels and clears the tasks in a SQLite task store.
 *
 * Exit codes: 0 ok, 1 not found (the task or the database file) or cannot read it, 2 usage,
 * 3 a cancel was requested but not confirmed.
 *
 * @example
 * ```sh
 * tasklane list --db tasks.db --status running
 * tasklane cancel 1b9d6bcd --db tasks.db
 * ```
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { CorruptRecord, StoredTask } from '../store/task-store.js';
import type { LockHolder, SqliteTaskStore } from '../store/sqlite/sqlite-store.js';
import { TaskStatus } from '../types.js';

const STATUSES: readonly string[] = Object.values(TaskStatus);

const USAGE = `Usage: tasklane <command> [options]

Commands:
  list [--status <s>]   the tasks in the store, oldest first (--status may repeat)
  status <id>           one task in full (any unique prefix of its id will do)
  cancel <id>           cancel a pending or running task (a live runner stops it within a second)
  clear                 delete finished tasks whose outcome was delivered
  dashboard             serve the live web page over the store (tasklane dashboard --help)

Options:
  --db <path>           the SQLite file (default: $TASKLANE_DB)
  --json                print JSON instead of text (dates as ISO strings)
  --wait <ms>           cancel: how long to wait for a live runner to stop the task (default 5000)
  --older-than <age>    clear: only tasks that finished at least this long ago (500ms, 30s, 15m, 12h, 7d)
  -h, --help            show this help

Tasks whose runner is gone show as orphaned (its process died: a new runner's recover() takes
them over); as stale when its process exists but has stopped renewing its lock (stalled).

Exit codes: 0 ok, 1 not found or unreadable (no such task or file, not a tasklane database,
corrupt rows skipped), 2 usage, 3 cancel requested but not confirmed.
`;

/** Where output goes; the tests and `main` share it. @internal */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** A subcommand: gets the arguments after its name. */
type Command = (argv: readonly string[], io: Io, env: NodeJS.ProcessEnv) => Promise<number>;

/** Every subcommand, by name: one line adds one. */
const COMMANDS: Readonly<Record<string, Command>> = {
  list: (argv, io, env) => storeCommand('list', argv, io, env),
  status: (argv, io, env) => storeCommand('status', argv, io, env),
  cancel: (argv, io, env) => storeCommand('cancel', argv, io, env),
  clear: (argv, io, env) => storeCommand('clear', argv, io, env),
  dashboard: async (argv, io, env) => (await import('./dashboard-command.js')).dashboardCommand(argv, io, env),
};

const STORE_OPTIONS = {
  db: { type: 'string' },
  status: { type: 'string', multiple: true },
  json: { type: 'boolean', default: false },
  wait: { type: 'string' },
  'older-than': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

class UsageError extends Error {}

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves with the exit code.
 * @internal
 */
export async function main(argv: readonly string[], io: Io = defaultIo(), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // A first, lenient pass only finds the command: each command parses its own options.
  const { values, positionals, tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: STORE_OPTIONS,
  });
  const command = positionals[0];
  if (command === undefined) {
    if (values.help === true) {
      io.out(USAGE);
      return 0;
    }
    return usage(io, 'Missing a command.');
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run === undefined) return usage(io, `Unknown command "${command}".`);
  const at = tokens.find((token) => token.kind === 'positional')!.index;
  return run([...argv.slice(0, at), ...argv.slice(at + 1)], io, env);
}

async function storeCommand(command: string, argv: readonly string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: STORE_OPTIONS });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const { values, positionals: rest } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const path = values.db ?? env.TASKLANE_DB;
  let store: SqliteTaskStore | undefined;
  try {
    const needsId = command === 'status' || command === 'cancel';
    if (needsId && rest.length !== 1) throw new UsageError(`\`tasklane ${command}\` takes one task id.`);
    if (!needsId && rest.length > 0) throw new UsageError(`\`tasklane ${command}\` takes no arguments, got "${rest.join(' ')}".`);
    if (path === undefined || path === '') throw new UsageError('Missing --db <path> (or set TASKLANE_DB).');
    const statuses = values.status ?? [];
    for (const status of statuses) {
      if (!STATUSES.includes(status)) throw new UsageError(`Unknown status "${status}"; use one of ${STATUSES.join(', ')}.`);
    }
    const wait = values.wait === undefined ? 5_000 : Number(values.wait);
    if (!(Number.isInteger(wait) && wait >= 0)) throw new UsageError(`--wait takes a number of milliseconds, got "${values.wait}".`);
    const olderThan = values['older-than'] === undefined ? undefined : parseDuration(values['older-than']);
    if (olderThan !== undefined && command !== 'clear') throw new UsageError('--older-than goes with `tasklane clear`.');

    const sqlite = await loadSqlite(io);
    if (sqlite === undefined) return 1;
    try {
      // Reading commands never write: not even the WAL switch a writer makes on open.
      store = sqlite.sqliteStore({ path, mustExist: true, readonly: command === 'list' || command === 'status' });
    } catch (error) {
      const message = firstLine(error);
      io.err(
        /unable to open|no such file|SQLITE_CANTOPEN/i.test(message) ? `No task database at ${path} (${message}).\n` : failure(error, path),
      );
      return 1;
    }
    const ctx: Context = { store, json: values.json, io, holder: store.lockHolder(), now: Date.now() };
    switch (command) {
      case 'list':
        return list(ctx, statuses as TaskStatus[]);
      case 'status':
        return status(ctx, rest[0]!);
      case 'cancel':
        return await cancel(ctx, rest[0]!, wait);
      default:
        return clear(ctx, olderThan);
    }
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error.message);
    // A store that cannot be read (a corrupt row, a locked file) is one line, not a stack trace.
    io.err(failure(error, path));
    return 1;
  } finally {
    store?.close();
  }
}

interface Context {
  readonly store: SqliteTaskStore;
  readonly json: boolean;
  readonly io: Io;
  readonly holder: LockHolder | undefined;
  readonly now: number;
}

/** Loads the SQLite store, or says in one line what to install. */
async function loadSqlite(io: Io): Promise<typeof import('../store/sqlite/sqlite-store.js') | undefined> {
  try {
    return await import('../store/sqlite/sqlite-store.js');
  } catch (error) {
    const message = firstLine(error);
    if (!/better[-_]sqlite3/.test(message)) throw error;
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    io.err(
      missing
        ? 'tasklane needs better-sqlite3 to read a task database: run `npm install better-sqlite3` and try again.\n'
        : `tasklane could not load better-sqlite3 (${message}): run \`npm rebuild better-sqlite3\` and try again.\n`,
    );
    return undefined;
  }
}

function usage(io: Io, message: string): number {
  io.err(`${message}\n\n${USAGE}`);
  return 2;
}

/** What became of an active task's runner: `undefined` while it is alive (or the task is final). */
interface Liveness {
  readonly state: 'orphaned' | 'stale';
  /** The last sign of life: the lock's heartbeat, or the task's last write when the lock is gone. */
  readonly lastSeen: number;
  readonly pid: number | undefined;
}

function liveness(task: StoredTask, holder: LockHolder | undefined): Liveness | undefined {
  if (isFinal(task.status)) return undefined;
  if (holder !== undefined && holder.owner === task.owner) {
    if (holder.live) return undefined;
    return { state: holder.running ? 'stale' : 'orphaned', lastSeen: holder.heartbeat, pid: holder.pid };
  }
  return { state: 'orphaned', lastSeen: task.updatedAt, pid: undefined };
}

/** A record as `--json` prints it: dates as ISO strings (like `task.toJSON()`), and the runner's state. */
function jsonRecord(task: StoredTask, holder: LockHolder | undefined): Record<string, unknown> {
  const gone = liveness(task, holder);
  return {
    ...task,
    createdAt: iso(task.createdAt),
    startedAt: task.startedAt === null ? null : iso(task.startedAt),
    completedAt: task.completedAt === null ? null : iso(task.completedAt),
    updatedAt: iso(task.updatedAt),
    runner: isFinal(task.status) ? null : (gone?.state ?? 'live'),
    lastHeartbeat: gone === undefined ? null : iso(gone.lastSeen),
  };
}

function reportCorrupt(io: Io, bad: readonly CorruptRecord[]): void {
  for (const { error } of bad) io.err(`${error.message}; skipped.\n`);
}

function list({ store, json, io, holder, now }: Context, statuses: TaskStatus[]): number {
  const bad: CorruptRecord[] = [];
  const tasks = store.list({ status: statuses }, (record) => bad.push(record));
  if (json) {
    io.out(
      `${JSON.stringify(
        tasks.map((task) => jsonRecord(task, holder)),
        null,
        2,
      )}\n`,
    );
  } else if (tasks.length === 0) {
    io.out(statuses.length > 0 ? `No ${statuses.join(' or ')} tasks.\n` : 'No tasks.\n');
  } else {
    const rows = tasks.map((t) => {
      const gone = liveness(t, holder);
      return [
        t.id,
        t.name,
        gone?.state ?? t.status,
        String(t.attempt),
        `${Math.round(t.progress * 100)}%`,
        time(t.createdAt),
        gone === undefined ? duration(t, now) : `${duration(t, gone.lastSeen)} (last heartbeat ${time(gone.lastSeen)})`,
      ];
    });
    io.out(table(['ID', 'NAME', 'STATUS', 'ATTEMPT', 'PROGRESS', 'CREATED', 'DURATION'], rows));
  }
  reportCorrupt(io, bad);
  return bad.length > 0 ? 1 : 0;
}

/** The task whose id is `prefix` or starts with it; `undefined` after printing why not. */
function resolveId(store: SqliteTaskStore, prefix: string, io: Io): string | undefined {
  if (store.findIds(prefix, 1)[0] === prefix) return prefix;
  const ids = store.findIds(prefix, 3);
  if (ids.length === 1) return ids[0];
  if (ids.length === 0) io.err(`No task with id ${prefix}.\n`);
  else io.err(`The id prefix ${prefix} matches several tasks (${ids.join(', ')}${ids.length > 2 ? ', …' : ''}); give more of the id.\n`);
  return undefined;
}

function status(ctx: Context, prefix: string): number {
  const { store, json, io, holder, now } = ctx;
  const id = resolveId(store, prefix, io);
  if (id === undefined) return 1;
  const task = store.get(id)!;
  if (json) {
    io.out(`${JSON.stringify(jsonRecord(task, holder), null, 2)}\n`);
    return 0;
  }
  const gone = liveness(task, holder);
  const lines: [string, string][] = [
    ['id', task.id],
    ['name', task.name],
    ['handler', task.handler ?? '(a function: cannot be re-queued after a crash)'],
    ['status', task.status + (task.cancelRequested && !isFinal(task.status) ? ' (cancel requested)' : '')],
    ['attempt', `${task.attempt} of ${task.maxAttempts}`],
    ['progress', `${Math.round(task.progress * 100)}%${task.message ? ` ${task.message}` : ''}`],
    ['created', time(task.createdAt)],
    ['started', task.startedAt === null ? '-' : time(task.startedAt)],
    ['completed', task.completedAt === null ? '-' : time(task.completedAt)],
    ['duration', duration(task, gone?.lastSeen ?? now)],
  ];
  if (gone?.state === 'orphaned') {
    lines.push(['runner', `orphaned: its runner is gone (last heartbeat ${time(gone.lastSeen)}); a new runner's recover() takes it over`]);
  } else if (gone?.state === 'stale') {
    lines.push(['runner', `stale: the runner in pid ${gone.pid} has not renewed its lock since ${time(gone.lastSeen)} (stalled?)`]);
  }
  if (task.args !== null) lines.push(['args', JSON.stringify(task.args)]);
  if (task.status === 'completed') lines.push(['result', JSON.stringify(task.result)]);
  if (task.error) lines.push(['error', `${task.error.name}: ${task.error.message}`]);
  const width = Math.max(...lines.map(([key]) => key.length));
  io.out(lines.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}\n`).join(''));
  return 0;
}

async function cancel(ctx: Context, prefix: string, waitMs: number): Promise<number> {
  const { store, json, io, holder } = ctx;
  const id = resolveId(store, prefix, io);
  if (id === undefined) return 1;
  const request = store.requestCancel(id, 'cancelled with the tasklane CLI');
  const report = (code: number, outcome: string, text: string, task: StoredTask | undefined): number => {
    io.out(json ? `${JSON.stringify({ outcome, task: task === undefined ? null : jsonRecord(task, holder) }, null, 2)}\n` : `${text}\n`);
    return code;
  };
  switch (request.outcome) {
    case 'not-found':
      io.err(`No task with id ${id}.\n`);
      return 1;
    case 'finished':
      return report(0, 'finished', `Task ${id} already ${request.task.status}; nothing to cancel.`, request.task);
    case 'cancelled':
      return report(0, 'cancelled', `Cancelled task ${id} (no runner holds the store, so it was marked cancelled).`, request.task);
    default: {
      const { pid, live, heartbeat } = request.holder;
      const deadline = Date.now() + waitMs;
      let task = store.get(id);
      while (task && !isFinal(task.status) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        task = store.get(id);
      }
      if (task?.status === 'cancelled') {
        return report(0, 'cancelled', `Cancelled task ${id} (the runner in pid ${pid} stopped it).`, task);
      }
      if (task && isFinal(task.status)) {
        return report(
          3,
          task.status,
          `Task ${id} ${task.status} before the runner in pid ${pid} acted on the cancel; nothing was cancelled.`,
          task,
        );
      }
      const why = live
        ? `the runner in pid ${pid} has not acted on it yet`
        : `the runner in pid ${pid} has not renewed its lock since ${time(heartbeat)} (stalled?): it cancels the task when it resumes, unless the task finishes first`;
      return report(3, 'requested', `Cancel requested for task ${id}, not confirmed: ${why}.`, task);
    }
  }
}

function clear({ store, json, io }: Context, olderThan: number | undefined): number {
  const removed = store.clear({ olderThan });
  io.out(json ? `${JSON.stringify({ removed })}\n` : `Removed ${removed} finished task${removed === 1 ? '' : 's'}.\n`);
  return 0;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `500ms`, `30s`, `15m`, `12h`, `7d`, `2w`, or a bare number of ms. */
function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!match) throw new UsageError(`--older-than takes an age like 30s, 15m, 12h or 7d, got "${text}".`);
  return Number(match[1]) * UNITS[match[2] ?? 'ms']!;
}

function isFinal(status: TaskStatus): boolean {
  return status !== 'pending' && status !== 'running' && status !== 'retrying';
}

/** One line for a store that cannot be opened, read or changed. */
function failure(error: unknown, path: string | undefined): string {
  const readonly = String((error as { code?: unknown }).code).startsWith('SQLITE_READONLY');
  return readonly
    ? `Cannot change ${path}: ${firstLine(error)} (the file or its directory is not writable for you).\n`
    : `${firstLine(error)}\n`;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Local time as `YYYY-MM-DD HH:MM:SS`. */
function time(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** From start to finish, or to `until` for a task not finished. */
function duration(task: StoredTask, until: number): string {
  if (task.startedAt === null) return '-';
  const ms = Math.max(0, (task.completedAt ?? until) - task.startedAt);
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1_000)).padStart(2, '0')}s`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [header, ...rows].map((cells) => `${line(cells)}\n`).join('');
}

/**
 * The real terminal. A reader that goes away (`tasklane list | head -1`) ends the command
 * quietly: EPIPE is what a pipe's closed end looks like, not an error worth a stack trace.
 */
function defaultIo(): Io {
  if (!quietOnEpipeInstalled) {
    quietOnEpipeInstalled = true;
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
}

let quietOnEpipeInstalled = false;
