import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner, TaskCancelledError } from '../../src/index.js';
import type { StoredTask, TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { record, tempDb } from '../helpers/store.js';
import { flushMicrotasks } from '../helpers/tasks.js';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'bin.ts');

/** Runs the CLI for real, as a child process. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main, ...args],
      { env: { ...process.env, TASKLANE_DB: '', ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

describe('tasklane CLI', () => {
  const db = tempDb();
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
    runner.define('research', async (topic: string) => `notes on ${topic}`);
    ids.research = (await runner.submit('research', { args: ['AI'] })).id;
    ids.parse = (await runner.submit(() => Promise.reject(new TypeError('bad input')), { name: 'parse' })).id;
    await runner.onIdle();
    await runner.stop();
  });
  afterAll(() => db.cleanup());

  describe('list', () => {
    it('prints a table of every task, oldest first', async () => {
      const { code, stdout } = await cli(['list', '--db', db.path]);
      expect(code).toBe(0);
      const [header, ...rows] = stdout.trimEnd().split('\n');
      expect(header).toMatch(/^ID\s+NAME\s+STATUS\s+ATTEMPT\s+PROGRESS\s+CREATED\s+DURATION$/);
      expect(rows.map((row) => row.split(/\s+/).slice(0, 5))).toEqual([
        [ids.research, 'research', 'completed', '1', '100%'],
        [ids.parse, 'parse', 'failed', '1', '0%'],
      ]);
    });

    it('filters by --status and prints JSON with --json (the database from TASKLANE_DB)', async () => {
      const { code, stdout } = await cli(['list', '--status', 'failed', '--json'], { TASKLANE_DB: db.path });
      expect(code).toBe(0);
      const tasks = JSON.parse(stdout) as StoredTask[];
      expect(tasks.map((t) => [t.id, t.status, t.error?.name])).toEqual([[ids.parse, 'failed', 'TypeError']]);
    });
  });

  describe('status', () => {
    it('shows one task in full, or as JSON', async () => {
      const [text, json] = await Promise.all([
        cli(['status', ids.research!, '--db', db.path]),
        cli(['status', ids.parse!, '--db', db.path, '--json']),
      ]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('status:    completed\n');
      expect(text.stdout).toContain('args:      ["AI"]\n');
      expect(text.stdout).toContain('result:    "notes on AI"\n');
      expect(JSON.parse(json.stdout)).toMatchObject({ id: ids.parse, handler: null, error: { name: 'TypeError', message: 'bad input' } });
    });

    it('exits 1 for an unknown id', async () => {
      const { code, stdout, stderr } = await cli(['status', 'nope', '--db', db.path]);
      expect([code, stdout, stderr]).toEqual([1, '', 'No task with id nope.\n']);
    });
  });

  describe.concurrent('usage errors', () => {
    it.each([
      [['list', '--db', 'x.db', '--status', 'done'], 'Unknown status "done"'],
      [['launch', '--db', 'x.db'], 'Unknown command "launch".'],
      [['list'], 'Missing --db <path> (or set TASKLANE_DB).'],
      [['list', '--db', 'x.db', '--colour'], "Unknown option '--colour'"],
      [['cancel', '--db', 'x.db'], '`tasklane cancel` takes one task id.'],
      [[], 'Missing a command.'],
    ])('exits 2 with the usage for %j', async (args, message) => {
      const { code, stderr } = await cli(args);
      expect(code).toBe(2);
      expect(stderr).toContain(message);
      expect(stderr).toContain('Usage: tasklane <command> [options]');
    });

    it('prints the usage and exits 0 with --help', async () => {
      const { code, stdout } = await cli(['--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(
        'Exit codes: 0 ok, 1 not found or unreadable (no such task or file, not a tasklane database,\ncorrupt rows skipped), 2 usage, 3 cancel requested but not confirmed.',
      );
    });

    it('exits 1 when the database file does not exist, without creating it', async () => {
      const { code, stderr } = await cli(['list', '--db', join(db.dir, 'missing.db')]);
      expect(code).toBe(1);
      expect(stderr).toContain(`No task database at ${join(db.dir, 'missing.db')}`);
      expect(existsSync(join(db.dir, 'missing.db'))).toBe(false);
    });
  });

  describe('cancel', () => {
    it('cancels a task of a live runner, which stops its work within a second', async () => {
      const live = tempDb();
      const runner = new BackgroundRunner({ store: sqliteStore({ path: live.path }) });
      try {
        runner.define(
          'forever',
          (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
        );
        const task = await runner.submit('forever');
        await flushMicrotasks();
        const [result] = await Promise.all([cli(['cancel', task.id, '--db', live.path]), task.wait().catch(() => undefined)]);
        expect(result.code).toBe(0);
        expect(result.stdout).toBe(`Cancelled task ${task.id} (the runner in pid ${process.pid} stopped it).\n`);
        expect(task.status).toBe('cancelled');
        expect(task.error).toBeInstanceOf(TaskCancelledError);
      } finally {
        await runner.stop();
        live.cleanup();
      }
    });

    it('marks a task cancelled itself when no runner holds the store, and reports finished and unknown ids', async () => {
      const store = sqliteStore({ path: db.path });
      store.write([record({ id: 'orphan', status: 'pending' })]);
      store.close();
      const [orphan, finished, unknown] = await Promise.all([
        cli(['cancel', 'orphan', '--db', db.path, '--json']),
        cli(['cancel', ids.research!, '--db', db.path]),
        cli(['cancel', 'nope', '--db', db.path]),
      ]);
      expect(orphan.code).toBe(0);
      expect(JSON.parse(orphan.stdout)).toMatchObject({ outcome: 'cancelled', task: { id: 'orphan', status: 'cancelled' } });
      expect([finished.code, finished.stdout]).toEqual([0, `Task ${ids.research} already completed; nothing to cancel.\n`]);
      expect(unknown.code).toBe(1);
    });
  });

  describe('clear', () => {
    it('deletes the finished tasks whose outcome was delivered, and keeps undelivered ones', async () => {
      const { code, stdout } = await cli(['clear', '--db', db.path]);
      expect([code, stdout]).toEqual([0, 'Removed 2 finished tasks.\n']);
      const { stdout: left } = await cli(['list', '--db', db.path, '--json']);
      // The orphan cancelled through the CLI waits for a runner's recover() to deliver it.
      expect((JSON.parse(left) as StoredTask[]).map((t) => [t.id, t.status, t.delivered])).toEqual([['orphan', 'cancelled', false]]);
    });
  });
});
