// Issue #12 items 1–4 and issue #11's not-JSON marker: what a store guarantees once a promise of
// the runner settles, and what one bad record, one corrupt row or a lost lock may (not) break.
import Database from 'better-sqlite3';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, StoreLockedError, TaskCancelledError } from '../../src/index.js';
import type { RunnerEvents, TaskContext, TaskStore } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { leaveBehind, record, tempDb } from '../helpers/store.js';
import { deferred } from '../helpers/tasks.js';

type ErrorEvent = Parameters<RunnerEvents['error']>[0];

describe('a runner with a store', () => {
  let db: ReturnType<typeof tempDb>;
  const runners: BackgroundRunner[] = [];
  const stores: SqliteTaskStore[] = [];
  const open = (options: { staleAfter?: number; readonly?: boolean } = {}) => {
    const store = sqliteStore({ path: db.path, ...options });
    stores.push(store);
    return store;
  };
  const runner = (store: TaskStore = open(), options: ConstructorParameters<typeof BackgroundRunner>[0] = {}) => {
    const r = new BackgroundRunner({ store, ...options });
    runners.push(r);
    const errors: ErrorEvent[] = [];
    r.on('error', (event) => errors.push(event));
    return { r, errors };
  };
  /** A second connection, as another process would read the file. */
  const reader = () => open({ readonly: true });
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop();
    for (const s of stores.splice(0)) s.close();
    db.cleanup();
  });

  describe('when submit() resolves', () => {
    it('has committed the task’s record: another connection reads it at once (issue #12, item 1)', async () => {
      const { r } = runner();
      r.define('work', () => new Promise(() => {}));
      const task = await r.submit('work', { args: ['a'] });
      expect(reader().get(task.id)).toMatchObject({ id: task.id, handler: 'work', args: ['a'] });
    });

    it('commits every submit of one synchronous stretch in one transaction (group commit)', async () => {
      const store = open();
      let writes = 0;
      const counted: TaskStore = {
        location: store.location,
        acquire: (owner) => store.acquire(owner),
        write: (records) => {
          writes += 1;
          return store.write(records);
        },
        poll: (owner) => store.poll(owner),
        recoverable: (owner) => store.recoverable(owner),
        get: (id) => store.get(id),
        release: (owner) => store.release(owner),
      };
      const { r } = runner(counted);
      r.define('work', () => new Promise(() => {}));
      const tasks = await Promise.all(Array.from({ length: 50 }, () => r.submit('work')));
      expect(writes).toBe(1);
      expect(
        reader()
          .list()
          .map((t) => t.id),
      ).toEqual(tasks.map((t) => t.id));
    });

    it('rejects, and cancels the task, when its record cannot be written; the rest of the batch commits (item 2)', async () => {
      const store = open();
      const raw = new Database(db.path);
      raw.exec("CREATE TRIGGER poison BEFORE INSERT ON tasks WHEN NEW.name = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END");
      raw.close();
      const { r, errors } = runner(store);
      const gate = deferred();
      const [good, bad] = await Promise.allSettled([
        r.submit(() => gate.promise, { name: 'good' }),
        r.submit(() => gate.promise, { name: 'poison' }),
      ]);
      expect(good.status).toBe('fulfilled');
      expect(bad).toMatchObject({ status: 'rejected', reason: { message: expect.stringContaining('poisoned row') as unknown } });
      const [poisoned] = r.tasks.filter((t) => t.name === 'poison');
      expect(poisoned?.status).toBe('cancelled');
      expect(errors).toEqual([
        { error: expect.objectContaining({ message: 'poisoned row' }) as unknown, source: 'store', taskId: poisoned!.id },
      ]);
      expect(
        reader()
          .list()
          .map((t) => t.name),
      ).toEqual(['good']);
    });
  });

  describe('with fake timers', () => {
    afterEach(() => vi.useRealTimers());
    it('acknowledges submits and settles wait() without advancing them (no timer holds the commit)', async () => {
      vi.useFakeTimers();
      const { r } = runner();
      const task = await r.submit(() => 'done');
      await expect(task.wait()).resolves.toBe('done');
      expect(reader().get(task.id)?.status).toBe('completed');
    });
  });

  describe('when wait() settles', () => {
    it('has committed the final state, so a script may exit right after it', async () => {
      const { r } = runner();
      r.define('double', (n: number) => n * 2);
      const task = await r.submit('double', { args: [21] });
      await expect(task.wait()).resolves.toBe(42);
      expect(reader().get(task.id)).toMatchObject({ status: 'completed', result: 42, delivered: true });
      const failing = await r.submit(() => Promise.reject(new Error('no')));
      await expect(failing.wait()).rejects.toThrow('no');
      expect(reader().get(failing.id)?.status).toBe('failed');
    });

    it('also when wait() is called after the task finished but before its state was written', async () => {
      const { r } = runner();
      const task = await r.submit(() => 'sync result');
      await Promise.resolve();
      await expect(task.wait()).resolves.toBe('sync result');
      expect(reader().get(task.id)?.status).toBe('completed');
    });

    it('settles at once after stop() when the last write failed (nothing will retry it)', async () => {
      const inner = open();
      let failing = false;
      const store: TaskStore = {
        location: inner.location,
        acquire: (owner) => inner.acquire(owner),
        write: (records) => {
          if (failing) throw new Error('disk full');
          return inner.write(records);
        },
        poll: (owner) => inner.poll(owner),
        recoverable: (owner, onCorrupt) => inner.recoverable(owner, onCorrupt),
        get: (id) => inner.get(id),
        release: (owner) => inner.release(owner),
      };
      const { r, errors } = runner(store);
      const gate = deferred<void>();
      const task = await r.submit(async () => {
        await gate.promise;
        return 'done';
      });
      failing = true;
      gate.resolve();
      await vi.waitFor(() => expect(task.status).toBe('completed'));
      await r.stop();
      await new Promise((resolve) => setImmediate(resolve));
      await expect(task.wait()).resolves.toBe('done');
      expect(errors.map((e) => [e.source, (e.error as Error).message])).toContainEqual(['store', 'disk full']);
    });
  });

  describe('flush()', () => {
    it('writes what changed since the last write and resolves once it is committed', async () => {
      const { r } = runner();
      let report!: TaskContext['reportProgress'];
      const task = await r.submit((ctx: TaskContext) => {
        report = ctx.reportProgress;
        return new Promise(() => {});
      });
      await vi.waitFor(() => expect(report).toBeTypeOf('function'));
      report(0.5, 'half');
      await r.flush();
      expect(reader().get(task.id)).toMatchObject({ progress: 0.5, message: 'half' });
    });

    it('resolves at once without a store', async () => {
      await expect(new BackgroundRunner().flush()).resolves.toBeUndefined();
    });
  });

  describe('when the caller changes the args after submit() (item 2)', () => {
    it('stores the args as they were checked, and later writes still succeed', async () => {
      const { r, errors } = runner();
      const gate = deferred();
      r.define('work', async (input: { n: number }) => {
        await gate.promise;
        return input.n;
      });
      const input: Record<string, unknown> = { n: 1 };
      const task = await r.submit('work', { args: [input] });
      input.big = 10n;
      input.n = 2;
      gate.resolve(undefined);
      await task.wait();
      expect(reader().get(task.id)).toMatchObject({ status: 'completed', args: [{ n: 1 }] });
      expect(errors).toEqual([]);
    });
  });

  describe('when a result or metadata is not JSON data (issue #11)', () => {
    it('stores a marker naming the bad part, reports it with the task id, and stores the rest of the batch', async () => {
      const { r, errors } = runner();
      const cyclic: Record<string, unknown> = { ok: true };
      cyclic.self = cyclic;
      const [big, map, cycle, fine] = await Promise.all([
        r.submit(() => ({ totals: [1, 2n] })),
        r.submit(() => new Map([['a', 1]])),
        r.submit(() => cyclic),
        r.submit(() => ({ plain: [1, 'two', null] }), { metadata: { when: 1n } }),
      ]);
      await Promise.all([big, map, cycle, fine].map((t) => t!.wait()));
      const read = reader();
      expect(read.get(big!.id)?.result).toEqual({ $tasklane: 'not-json', path: 'result.totals[1]', found: 'a BigInt' });
      expect(read.get(map!.id)?.result).toEqual({ $tasklane: 'not-json', path: 'result', found: 'a Map (JSON would store {})' });
      expect(read.get(cycle!.id)?.result).toMatchObject({ $tasklane: 'not-json', path: 'result.self' });
      expect(read.get(fine!.id)).toMatchObject({ status: 'completed', result: { plain: [1, 'two', null] } });
      expect(read.get(fine!.id)?.metadata).toEqual({ $tasklane: 'not-json', path: 'metadata.when', found: 'a BigInt' });
      const reported = errors.map(({ source, taskId, error }) => [
        source,
        taskId,
        (error as Error).message.match(/`([^`]+)` is not JSON data/)?.[1],
      ]);
      expect(reported).toEqual(
        expect.arrayContaining([
          ['store', big!.id, 'result.totals[1]'],
          ['store', map!.id, 'result'],
          ['store', cycle!.id, 'result.self'],
          ['store', fine!.id, 'metadata.when'],
        ]),
      );
      expect(reported).toHaveLength(4);
    });
  });

  describe('when a stored row is corrupt (item 3)', () => {
    it('recover() reports it with its id and recovers every other task', async () => {
      leaveBehind(db.path, [record({ id: 'a', args: [1] }), record({ id: 'bad', args: [2] }), record({ id: 'c', args: [3] })]);
      const raw = new Database(db.path);
      raw.prepare("UPDATE tasks SET metadata = '{not json' WHERE id = 'bad'").run();
      raw.close();
      const { r, errors } = runner();
      r.define('work', (n: number) => n);
      const { requeued } = await r.recover();
      expect(requeued.map((t) => t.id)).toEqual(['a', 'c']);
      await expect(Promise.all(requeued.map((t) => t.wait()))).resolves.toEqual([1, 3]);
      expect(errors).toEqual([
        {
          source: 'store',
          taskId: 'bad',
          error: expect.objectContaining({ message: expect.stringContaining('`metadata`') as unknown }) as unknown,
        },
      ]);
    });
  });

  describe('when another runner takes the lock over after a stall (item 4)', () => {
    it('the old runner stops writing and admitting, cancels its tasks and reports it; the new one owns the records', async () => {
      const { r: old, errors } = runner(open(), { maxConcurrentTasks: 1 });
      const started: string[] = [];
      const gate = deferred();
      old.define('work', async (name: string) => {
        started.push(`old ${name}`);
        await gate.promise;
        return `old ${name}`;
      });
      const first = await old.submit('work', { args: ['first'] });
      const second = await old.submit('work', { args: ['second'] });
      await vi.waitFor(() => expect(started).toEqual(['old first']));

      // What a stall past staleAfter looks like to the next runner: a heartbeat too old.
      const raw = new Database(db.path);
      raw.prepare('UPDATE lock SET heartbeat = 0').run();
      raw.close();
      const { r: next } = runner(open({ staleAfter: 1_000 }));
      next.define('work', async (name: string) => {
        started.push(`new ${name}`);
        return `new ${name}`;
      });
      const { requeued } = await next.recover();
      expect(requeued.map((t) => t.id)).toEqual([first.id, second.id]);

      await vi.waitFor(() => expect(errors.map((e) => e.error)).toEqual([expect.any(StoreLockedError)]), { timeout: 5_000 });
      expect([first.status, second.status]).toEqual(['cancelled', 'cancelled']);
      await expect(second.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      gate.resolve(undefined);
      await next.onIdle();
      await next.flush();
      expect(started).toEqual(['old first', 'new first', 'new second']);
      const stored = reader().list();
      expect(stored.map((t) => [t.id, t.status, t.result])).toEqual([
        [first.id, 'completed', 'new first'],
        [second.id, 'completed', 'new second'],
      ]);
      await expect(old.submit('work', { args: ['third'] })).rejects.toThrow(/could not be written/);
      expect(reader().list()).toHaveLength(2);
    });
  });

  describe('retention', () => {
    const day = 86_400_000;
    const finished = (id: string, ageMs: number, delivered = true) =>
      record({ id, status: 'completed', delivered, completedAt: Date.now() - ageMs, updatedAt: Date.now() - ageMs });

    it('clear({ olderThan }) deletes delivered finished tasks that finished that long ago', () => {
      leaveBehind(db.path, [
        finished('old', 10 * day),
        finished('old-undelivered', 10 * day, false),
        finished('new', 1_000),
        record({ id: 'active' }),
      ]);
      const store = open();
      expect(store.clear({ olderThan: 7 * day })).toBe(1);
      expect(store.list().map((t) => t.id)).toEqual(['old-undelivered', 'new', 'active']);
      expect(() => store.clear({ olderThan: -1 })).toThrow(
        'Expected `olderThan` to be a number of milliseconds (0 or more), got `-1` (number)',
      );
    });

    it('removeFinishedAfter sweeps while a runner holds the store', async () => {
      leaveBehind(db.path, [finished('old', 2 * day), finished('new', 1_000)]);
      runner(sqliteStore({ path: db.path, removeFinishedAfter: day }));
      await vi.waitFor(
        () =>
          expect(
            reader()
              .list()
              .map((t) => t.id),
          ).toEqual(['new']),
        { timeout: 5_000 },
      );
      expect(() => sqliteStore({ path: db.path, removeFinishedAfter: -5 })).toThrow(RangeError);
    });
  });

  describe('the file', () => {
    it('refuses a SQLite file that is not tasklane’s and leaves it untouched (item 5)', () => {
      const raw = new Database(db.path);
      raw.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
      raw.close();
      expect(() => sqliteStore({ path: db.path })).toThrow(/is not a tasklane task database \(application_id 0, tables: notes\)/);
      expect(() => sqliteStore({ path: db.path, readonly: true })).toThrow(/is not a tasklane task database/);
      const check = new Database(db.path, { readonly: true });
      expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual(['notes']);
      check.close();
    });

    it('marks its own schema, and opens read-only for reading without writing anything', async () => {
      const { r } = runner();
      const task = await r.submit(() => 1);
      await task.wait();
      const check = new Database(db.path, { readonly: true });
      expect([check.pragma('application_id', { simple: true }), check.pragma('user_version', { simple: true })]).toEqual([0x54534b4c, 2]);
      check.close();
      const read = reader();
      expect(read.list().map((t) => t.status)).toEqual(['completed']);
      expect(() => read.clear()).toThrow('Cannot clear() a store opened with `readonly: true`');
      expect(() => read.acquire({ id: 'x', pid: process.pid, host: hostname() })).toThrow(TypeError);
    });
  });
});
