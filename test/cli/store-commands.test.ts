// The CLI items of issues #11 and #12: id prefixes, dead runners' tasks, ISO dates, corrupt rows,
// foreign and read-only files, EPIPE, retention, an honest cancel, and running without better-sqlite3.
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { StoredTask } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { deadPid, leaveBehind, record, tempDb } from '../helpers/store.js';

const bin = join(import.meta.dirname, '..', '..', 'src', 'cli', 'bin.ts');
const hideSqlite = join(import.meta.dirname, '..', 'fixtures', 'hide-packages.mjs');

/** Runs `main()` in this process, capturing what it prints. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { out: (text) => (stdout += text), err: (text) => (stderr += text) }, {});
  return { code, stdout, stderr };
}

/** Runs a shell command line, for what only shows in a real process. */
function shell(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-o', 'pipefail', '-c', line], { env: { ...process.env, TASKLANE_DB: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe('tasklane CLI with a store', () => {
  let db: ReturnType<typeof tempDb>;
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(() => db.cleanup());

  /** Sets the lock as a runner in process `pid` with heartbeat `heartbeat` would leave it. */
  const setLock = (owner: string, pid: number, heartbeat: number) => {
    const raw = new Database(db.path);
    raw.prepare('UPDATE lock SET owner = ?, pid = ?, host = ?, heartbeat = ?').run(owner, pid, hostname(), heartbeat);
    raw.close();
  };

  describe('ids', () => {
    it('accepts any unique prefix, and names the candidates of an ambiguous one', async () => {
      leaveBehind(db.path, [record({ id: 'abc123', status: 'completed' }), record({ id: 'abd456' }), record({ id: 'abd789' })]);
      const unique = await run('status', 'abc', '--db', db.path, '--json');
      expect(unique.code).toBe(0);
      expect(JSON.parse(unique.stdout)).toMatchObject({ id: 'abc123', status: 'completed' });
      const ambiguous = await run('status', 'abd', '--db', db.path);
      expect([ambiguous.code, ambiguous.stderr]).toEqual([
        1,
        'The id prefix abd matches several tasks (abd456, abd789); give more of the id.\n',
      ]);
      const wildcard = await run('status', 'a%', '--db', db.path);
      expect([wildcard.code, wildcard.stderr]).toEqual([1, 'No task with id a%.\n']);
    });
  });

  describe('when the runner that held a task is gone', () => {
    it('shows its active tasks as orphaned with the last heartbeat, and --json dates as ISO strings', async () => {
      const heartbeat = Date.UTC(2026, 0, 2, 3, 4, 5);
      leaveBehind(db.path, [
        record({ id: 'run1', status: 'running', attempt: 1, startedAt: heartbeat - 5_000, createdAt: heartbeat - 6_000 }),
        record({ id: 'done', status: 'completed', startedAt: 1_000, completedAt: 2_000 }),
      ]);
      setLock('dead-runner', deadPid(), heartbeat);
      const text = await run('list', '--db', db.path);
      const [, done, running] = text.stdout.trimEnd().split('\n');
      expect(running).toMatch(/^run1\s+work\s+orphaned\s+1\s+0%\s+\S+ \S+\s+5\.0s \(last heartbeat \S+ \S+\)$/);
      expect(done).toMatch(/^done\s+work\s+completed\s/);
      const json = JSON.parse((await run('list', '--db', db.path, '--json')).stdout) as Record<string, unknown>[];
      expect(json[1]).toMatchObject({
        id: 'run1',
        status: 'running',
        runner: 'orphaned',
        lastHeartbeat: new Date(heartbeat).toISOString(),
        createdAt: new Date(heartbeat - 6_000).toISOString(),
        startedAt: new Date(heartbeat - 5_000).toISOString(),
        completedAt: null,
      });
      expect(json[0]).toMatchObject({ id: 'done', runner: null, lastHeartbeat: null, completedAt: new Date(2_000).toISOString() });
    });

    it('shows them as stale when its process exists but stopped renewing the lock', async () => {
      leaveBehind(db.path, [record({ id: 'run1', status: 'running', startedAt: 1_000 })]);
      setLock('dead-runner', process.pid, 1_000);
      const { stdout } = await run('status', 'run1', '--db', db.path);
      expect(stdout).toContain(`runner:    stale: the runner in pid ${process.pid} has not renewed its lock since`);
    });
  });

  describe('when a row is corrupt', () => {
    it('lists the others and prints one line per bad row, exiting 1', async () => {
      leaveBehind(db.path, [record({ id: 'good' }), record({ id: 'bad1' }), record({ id: 'bad2' })]);
      const raw = new Database(db.path);
      raw.exec(
        "UPDATE tasks SET result = '{oops', status = 'completed' WHERE id = 'bad1'; UPDATE tasks SET status = 'weird' WHERE id = 'bad2'",
      );
      raw.close();
      const { code, stdout, stderr } = await run('list', '--db', db.path);
      expect(code).toBe(1);
      expect(
        stdout
          .trimEnd()
          .split('\n')
          .slice(1)
          .map((row) => row.split(/\s+/)[0]),
      ).toEqual(['good']);
      expect(stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(/^Task "bad1" cannot be read: its `result` cell is not valid JSON \(.*\); skipped\.$/),
        'Task "bad2" cannot be read: its `status` cell holds "weird", not a task status; skipped.',
      ]);
      const one = await run('status', 'bad1', '--db', db.path);
      expect([one.code, one.stderr.split('\n').length]).toEqual([1, 2]);
    });
  });

  describe('the file', () => {
    it('refuses a SQLite file that is not tasklane’s, in one line, without changing it (issue #12, item 5)', async () => {
      const raw = new Database(db.path);
      raw.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
      raw.close();
      const before = createHash('sha256').update(readFileSync(db.path)).digest('hex');
      for (const command of ['list', 'clear']) {
        const { code, stderr } = await run(command, '--db', db.path);
        expect([code, stderr.split('\n').length]).toEqual([1, 2]);
        expect(stderr).toContain('is not a tasklane task database');
      }
      expect(createHash('sha256').update(readFileSync(db.path)).digest('hex')).toBe(before);
      expect(existsSync(`${db.path}-wal`)).toBe(false);
    });

    it('lists and shows without writing to the file', async () => {
      const store = sqliteStore({ path: db.path });
      store.acquire({ id: 'r', pid: deadPid(), host: hostname() });
      store.write([record({ id: 't1', owner: 'r', status: 'completed' })]);
      store.close();
      const before = createHash('sha256').update(readFileSync(db.path)).digest('hex');
      expect((await run('list', '--db', db.path)).code).toBe(0);
      expect((await run('status', 't1', '--db', db.path)).code).toBe(0);
      expect(createHash('sha256').update(readFileSync(db.path)).digest('hex')).toBe(before);
    });
  });

  describe('a file the user may only read, in a directory they may not write (issue #12, item 5)', () => {
    it('is listed: the WAL file is read from a copy when SQLite cannot create its shared memory', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tasklane-ro-'));
      try {
        const path = join(dir, 'tasks.db');
        const store = sqliteStore({ path });
        store.acquire({ id: 'r', pid: deadPid(), host: hostname() });
        store.write([record({ id: 'kept', owner: 'r', status: 'completed' })]);
        store.close();
        chmodSync(path, 0o444);
        chmodSync(dir, 0o555);
        // Root ignores file modes: run the CLI as an unprivileged user then.
        const command = `node --import tsx ${bin} list --db ${path} --json`;
        const asRoot = process.getuid?.() === 0;
        const { code, stdout, stderr } = await shell(asRoot ? `su nobody -s /bin/bash -c 'cd ${process.cwd()} && ${command}'` : command);
        expect([code, stderr]).toEqual([0, '']);
        expect((JSON.parse(stdout) as StoredTask[]).map((t) => t.id)).toEqual(['kept']);
        expect(readdirSync(dir)).toEqual(['tasks.db']);
        const clear = `node --import tsx ${bin} clear --db ${path}`;
        const refused = await shell(asRoot ? `su nobody -s /bin/bash -c 'cd ${process.cwd()} && ${clear}'` : clear);
        expect([refused.code, refused.stderr.split('\n').length]).toEqual([1, 2]);
        expect(refused.stderr).toMatch(/^Cannot change .*tasks\.db: .* \(the file or its directory is not writable for you\)\.\n$/);
      } finally {
        chmodSync(dir, 0o755);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('clear --older-than', () => {
    it('deletes only delivered tasks that finished that long ago', async () => {
      const day = 86_400_000;
      leaveBehind(db.path, [
        record({ id: 'old', status: 'completed', delivered: true, completedAt: Date.now() - 8 * day }),
        record({ id: 'new', status: 'completed', delivered: true, completedAt: Date.now() - day }),
      ]);
      expect(await run('clear', '--older-than', '7d', '--db', db.path)).toEqual({
        code: 0,
        stdout: 'Removed 1 finished task.\n',
        stderr: '',
      });
      expect(JSON.parse((await run('list', '--json', '--db', db.path)).stdout).map((t: StoredTask) => t.id)).toEqual(['new']);
      const bad = await run('clear', '--older-than', 'a week', '--db', db.path);
      expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, '--older-than takes an age like 30s, 15m, 12h or 7d, got "a week".']);
    });
  });

  describe('cancel against a runner stalled past staleAfter (issue #12, item 5)', () => {
    it('does not report success: the cancel is requested, not confirmed, and the exit code says so', async () => {
      leaveBehind(db.path, [record({ id: 'busy', status: 'running', owner: 'stalled' })]);
      // A live process (this one) whose heartbeat is a minute old: a stalled runner.
      setLock('stalled', process.pid, Date.now() - 60_000);
      const { code, stdout } = await run('cancel', 'busy', '--db', db.path, '--wait', '150');
      expect(code).toBe(3);
      expect(stdout).toMatch(
        /^Cancel requested for task busy, not confirmed: the runner in pid \d+ has not renewed its lock since .* \(stalled\?\)/,
      );
      const stored = sqliteStore({ path: db.path, readonly: true });
      expect(stored.get('busy')).toMatchObject({ status: 'running', cancelRequested: true });
      stored.close();
    });

    it('says so when the task finished before the runner acted on the cancel', async () => {
      leaveBehind(db.path, [record({ id: 'busy', status: 'running', owner: 'slow' })]);
      setLock('slow', process.pid, Date.now());
      const finishing = setTimeout(() => {
        const raw = new Database(db.path);
        raw.prepare("UPDATE tasks SET status = 'completed', result = '1' WHERE id = 'busy'").run();
        raw.close();
      }, 50);
      const { code, stdout } = await run('cancel', 'busy', '--db', db.path, '--wait', '2000');
      clearTimeout(finishing);
      expect([code, stdout]).toEqual([
        3,
        'Task busy completed before the runner in pid ' + process.pid + ' acted on the cancel; nothing was cancelled.\n',
      ]);
    });
  });

  describe('as a real process', () => {
    it('does not die on EPIPE when its reader goes away (tasklane list | head -1)', async () => {
      leaveBehind(
        db.path,
        Array.from({ length: 3_000 }, (_, i) => record({ id: `task-${String(i).padStart(5, '0')}`, name: 'x'.repeat(40) })),
      );
      const { code, stdout, stderr } = await shell(`node --import tsx ${bin} list --db ${db.path} | head -1`);
      expect([code, stderr]).toEqual([0, '']);
      expect(stdout).toMatch(/^ID\s+NAME/);
    });

    it('without better-sqlite3: --help works and a command says in one line what to install', async () => {
      const node = `TASKLANE_HIDE=better-sqlite3 node --import tsx --import ${hideSqlite} ${bin}`;
      const [help, list] = await Promise.all([shell(`${node} --help`), shell(`${node} list --db ${db.path}`)]);
      expect([help.code, help.stdout.split('\n')[0]]).toEqual([0, 'Usage: tasklane <command> [options]']);
      expect(list).toEqual({
        code: 1,
        stdout: '',
        stderr: 'tasklane needs better-sqlite3 to read a task database: run `npm install better-sqlite3` and try again.\n',
      });
    });
  });
});
