/**
 * The `tasklane` command: lists, shows, cancels and clears the tasks in a SQLite task store.
 *
 * Exit codes: 0 ok, 1 not found (the task or the database file), 2 usage.
 *
 * @example
 * ```sh
 * tasklane list --db tasks.db --status running
 * tasklane cancel 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed --db tasks.db
 * ```
 */
import { parseArgs } from 'node:util';
import type { StoredTask } from '../store/task-store.js';
import { sqliteStore } from '../store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../store/sqlite/sqlite-store.js';
import type { TaskStatus } from '../types.js';

const STATUSES: readonly TaskStatus[] = ['pending', 'running', 'retrying', 'completed', 'failed', 'cancelled', 'lost'];

const USAGE = `Usage: tasklane <command> [options]

Commands:
  list [--status <s>]   the tasks in the store, oldest first (--status may repeat)
  status <id>           one task in full
  cancel <id>           cancel a pending or running task (a live runner stops it within a second)
  clear                 delete finished tasks whose outcome was delivered
  dashboard             serve the live web page over the store (tasklane dashboard --help)

Options:
  --db <path>           the SQLite file (default: $TASKLANE_DB)
  --json                print JSON instead of text
  --wait <ms>           cancel: how long to wait for a live runner to stop the task (default 5000)
  -h, --help            show this help

Exit codes: 0 ok, 1 not found, 2 usage.
`;

/** Where output goes; the tests and `main` share it. @internal */
interface Io {
  out(text: string): void;
  err(text: string): void;
}

class UsageError extends Error {}

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves with the exit code.
 * @internal
 */
export async function main(argv: readonly string[], io: Io = defaultIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === 'dashboard') return (await import('./dashboard-command.js')).dashboardCommand(argv.slice(1), io, env);
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        db: { type: 'string' },
        status: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        wait: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === undefined) return usage(io, 'Missing a command.');
  const path = values.db ?? env.TASKLANE_DB;
  let store: SqliteTaskStore | undefined;
  try {
    const needsId = command === 'status' || command === 'cancel';
    if (!['list', 'status', 'cancel', 'clear'].includes(command)) throw new UsageError(`Unknown command "${command}".`);
    if (needsId && rest.length !== 1) throw new UsageError(`\`tasklane ${command}\` takes one task id.`);
    if (!needsId && rest.length > 0) throw new UsageError(`\`tasklane ${command}\` takes no arguments, got "${rest.join(' ')}".`);
    if (path === undefined || path === '') throw new UsageError('Missing --db <path> (or set TASKLANE_DB).');
    const statuses = values.status ?? [];
    for (const status of statuses) {
      if (!STATUSES.includes(status as TaskStatus)) throw new UsageError(`Unknown status "${status}"; use one of ${STATUSES.join(', ')}.`);
    }
    const wait = values.wait === undefined ? 5_000 : Number(values.wait);
    if (!(Number.isInteger(wait) && wait >= 0)) throw new UsageError(`--wait takes a number of milliseconds, got "${values.wait}".`);
    try {
      store = sqliteStore({ path, mustExist: true });
    } catch (error) {
      io.err(`No task database at ${path} (${(error as Error).message}).\n`);
      return 1;
    }
    switch (command) {
      case 'list':
        return list(store, statuses as TaskStatus[], values.json, io);
      case 'status':
        return status(store, rest[0]!, values.json, io);
      case 'cancel':
        return await cancel(store, rest[0]!, wait, values.json, io);
      default:
        return clear(store, values.json, io);
    }
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error.message);
    throw error;
  } finally {
    store?.close();
  }
}

function usage(io: Io, message: string): number {
  io.err(`${message}\n\n${USAGE}`);
  return 2;
}

function list(store: SqliteTaskStore, statuses: TaskStatus[], json: boolean, io: Io): number {
  const tasks = store.list({ status: statuses });
  if (json) {
    io.out(`${JSON.stringify(tasks, null, 2)}\n`);
    return 0;
  }
  if (tasks.length === 0) {
    io.out(statuses.length > 0 ? `No ${statuses.join(' or ')} tasks.\n` : 'No tasks.\n');
    return 0;
  }
  const rows = tasks.map((t) => [
    t.id,
    t.name,
    t.status,
    String(t.attempt),
    `${Math.round(t.progress * 100)}%`,
    time(t.createdAt),
    duration(t),
  ]);
  io.out(table(['ID', 'NAME', 'STATUS', 'ATTEMPT', 'PROGRESS', 'CREATED', 'DURATION'], rows));
  return 0;
}

function status(store: SqliteTaskStore, id: string, json: boolean, io: Io): number {
  const task = store.get(id);
  if (!task) return notFound(io, id);
  if (json) {
    io.out(`${JSON.stringify(task, null, 2)}\n`);
    return 0;
  }
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
    ['duration', duration(task)],
  ];
  if (task.args !== null) lines.push(['args', JSON.stringify(task.args)]);
  if (task.status === 'completed') lines.push(['result', JSON.stringify(task.result)]);
  if (task.error) lines.push(['error', `${task.error.name}: ${task.error.message}`]);
  const width = Math.max(...lines.map(([key]) => key.length));
  io.out(lines.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}\n`).join(''));
  return 0;
}

async function cancel(store: SqliteTaskStore, id: string, waitMs: number, json: boolean, io: Io): Promise<number> {
  const request = store.requestCancel(id, 'cancelled with the tasklane CLI');
  const report = (outcome: string, text: string, task: StoredTask | undefined): number => {
    io.out(json ? `${JSON.stringify({ outcome, task: task ?? null }, null, 2)}\n` : `${text}\n`);
    return 0;
  };
  switch (request.outcome) {
    case 'not-found':
      return notFound(io, id);
    case 'finished':
      return report('finished', `Task ${id} already ${request.task.status}; nothing to cancel.`, request.task);
    case 'cancelled':
      return report('cancelled', `Cancelled task ${id} (no runner holds the store, so it was marked cancelled).`, request.task);
    default: {
      const { pid } = request.holder;
      const deadline = Date.now() + waitMs;
      let task = store.get(id);
      while (task && !isFinal(task.status) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        task = store.get(id);
      }
      if (task && isFinal(task.status)) {
        return report(task.status, `Cancelled task ${id} (the runner in pid ${pid} stopped it; now ${task.status}).`, task);
      }
      return report('requested', `Cancel requested for task ${id}; the runner in pid ${pid} has not acted on it yet.`, task);
    }
  }
}

function clear(store: SqliteTaskStore, json: boolean, io: Io): number {
  const removed = store.clear();
  io.out(json ? `${JSON.stringify({ removed })}\n` : `Removed ${removed} finished task${removed === 1 ? '' : 's'}.\n`);
  return 0;
}

function notFound(io: Io, id: string): number {
  io.err(`No task with id ${id}.\n`);
  return 1;
}

function isFinal(status: TaskStatus): boolean {
  return status !== 'pending' && status !== 'running' && status !== 'retrying';
}

/** Local time as `YYYY-MM-DD HH:MM:SS`. */
function time(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function duration(task: StoredTask): string {
  if (task.startedAt === null) return '-';
  const ms = (task.completedAt ?? Date.now()) - task.startedAt;
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1_000)).padStart(2, '0')}s`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [header, ...rows].map((cells) => `${line(cells)}\n`).join('');
}

const defaultIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

