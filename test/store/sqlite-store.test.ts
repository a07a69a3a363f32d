import Database from 'better-sqlite3';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, StoreLockedError, TaskCancelledError, isRunnerError } from '../../src/index.js';
import type { RunnerEvents, TaskContext, TaskStore } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { deadPid, leaveBehind, record, tempDb } from '../helpers/store.js';
import { deferred, flushMicrotasks } from '../helpers/tasks.js';

/** A TaskStore of your own: here one that forwards to `store` except for `overrides`. */
function delegate(store: SqliteTaskStore, overrides: Partial<TaskStore>): TaskStore {
  return {
    location: store.location,
    acquire: (owner) => store.acquire(owner),
    write: (records) => store.write(records),
    poll: (owner) => store.poll(owner),
    recoverable: (owner) => store.recoverable(owner),
    get: (id) => store.get(id),
    release: (owner) => store.release(owner),
    ...overrides,
  };
}

describe('sqliteStore', () => {
  let db: ReturnType<typeof tempDb>;
  const runners: BackgroundRunner[] = [];
  const stores: SqliteTaskStore[] = [];
  const open = (options: { staleAfter?: number } = {}) => {
    const store = sqliteStore({ path: db.path, ...options });
    stores.push(store);
    return store;
  };
  const runner = (options: ConstructorParameters<typeof BackgroundRunner>[0] = {}) => {
    const r = new BackgroundRunner({ store: open(), ...options });
    runners.push(r);
    return r;
  };
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop();
    for (const s of stores.splice(0)) s.close();
    db.cleanup();
  });

  describe('when a runner writes to it', () => {
    it('keeps every task with its final state, JSON result and JSON error, in WAL mode', async () => {
      const r = runner();
      r.define('add', (a: number, b: number) => ({ sum: a + b }));
      const ok = await r.submit('add', { args: [1, 2], metadata: { user: 'ada' }, priority: 3 });
      const cause = new Error('root cause');
      const bad = await r.submit(
        () => {
          throw new RangeError('too big', { cause });
        },
        { name: 'boom' },
      );
      await r.onIdle();
      await flushMicrotasks();
      const reader = open();
      expect(reader.get(ok.id)).toMatchObject({
        name: 'add',
        handler: 'add',
        args: [1, 2],
        status: 'completed',
        result: { sum: 3 },
        error: null,
        attempt: 1,
        priority: 3,
        metadata: { user: 'ada' },
        delivered: true,
      });
      const failed = reader.get(bad.id)!;
      expect(failed).toMatchObject({ name: 'boom', handler: null, args: null, status: 'failed', result: null });
      expect(failed.error).toMatchObject({ name: 'RangeError', message: 'too big', cause: { name: 'Error', message: 'root cause' } });
      expect(failed.error?.stack).toContain('RangeError: too big');
      const raw = new Database(db.path, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
    });

    it('reads back any JSON args and result exactly as JSON would', async () => {
      const r = runner();
      r.define('echo', (...args: unknown[]) => args.slice(0, -1));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.jsonValue(), { maxLength: 4 }), async (args) => {
          const task = await r.submit('echo', { args });
          await task.wait();
          await flushMicrotasks(2);
          const expected = JSON.parse(JSON.stringify(args)) as unknown;
          expect(open().get(task.id)).toMatchObject({ args: expected, result: expected, status: 'completed' });
        }),
        { numRuns: 30 },
      );
    });

    it('writes the intermediate states too: a running task is on disk as running', async () => {
      const r = runner();
      const gate = deferred();
      r.define('wait', async (_: string, ctx: TaskContext) => {
        ctx.reportProgress(0.5, 'half');
        await gate.promise;
      });
      const task = await r.submit('wait', { args: ['x'] });
      await flushMicrotasks();
      expect(open().get(task.id)).toMatchObject({ status: 'running', progress: 0.5, message: 'half', attempt: 1 });
      gate.resolve(undefined);
      await task.wait();
    });

    it('writes the cancellations of stop() and then frees the store for the next runner', async () => {
      const r = runner();
      const task = await r.submit(() => new Promise(() => {}));
      await r.stop();
      expect(open().get(task.id)).toMatchObject({ status: 'cancelled', error: { name: 'TaskCancelledError' } });
      expect(() => runner()).not.toThrow();
    });
  });

  describe('lock', () => {
    it('refuses a second live runner on the same file with StoreLockedError', () => {
      runner();
      let error: unknown;
      try {
        runner();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreLockedError);
      expect(isRunnerError(error)).toBe(true);
      expect(error).toMatchObject({ pid: process.pid, host: hostname() });
      expect((error as Error).message).toContain('is in use by another runner (pid');
    });

    it('takes over a lock left by a process that died', () => {
      open().acquire({ id: 'crashed', pid: deadPid(), host: hostname() });
      expect(() => runner()).not.toThrow();
      expect(open().lockHolder()).toMatchObject({ pid: process.pid, live: true });
    });

    it('refuses a live foreign process with a fresh heartbeat, and takes over once its heartbeat is stale', () => {
      const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
      try {
        const other = { id: 'other', pid: sleeper.pid!, host: hostname() };
        open().acquire(other);
        expect(() => new BackgroundRunner({ store: open({ staleAfter: 60_000 }) })).toThrow(StoreLockedError);
        // Its holder stops renewing the heartbeat (hung): a minute later the lock is stale.
        const raw = new Database(db.path);
        raw.prepare('UPDATE lock SET heartbeat = heartbeat - 61000').run();
        raw.close();
        expect(() => runners.push(new BackgroundRunner({ store: open({ staleAfter: 60_000 }) }))).not.toThrow();
      } finally {
        sleeper.kill();
      }
    });
  });

  describe('cancelling through the store', () => {
    it('reaches a task of a live runner within a poll', async () => {
      const r = runner();
      r.define(
        'forever',
        (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      );
      const task = await r.submit('forever');
      await flushMicrotasks();
      const outcome = open().requestCancel(task.id);
      expect(outcome).toMatchObject({ outcome: 'requested', holder: { pid: process.pid, live: true } });
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      expect(task.error?.message).toContain('cancel requested through the store');
      await flushMicrotasks();
      expect(open().get(task.id)?.status).toBe('cancelled');
    });

    it('ends a task the live runner does not hold (waiting for its handler) within a poll, for recover() to deliver', async () => {
      leaveBehind(db.path, [record({ id: 'later', handler: 'later', status: 'pending' })]);
      const r = runner();
      expect((await r.recover()).waiting).toEqual(['later']);
      expect(open().requestCancel('later')).toMatchObject({ outcome: 'requested' });
      await vi.waitFor(() => expect(open().get('later')?.status).toBe('cancelled'), { timeout: 5_000 });
      expect(open().get('later')).toMatchObject({ delivered: false, owner: 'dead-runner', error: { name: 'TaskCancelledError' } });
      const onRecovered = vi.fn();
      await r.stop();
      const next = runner({ onRecovered });
      next.define('later', () => 'ran');
      const { finished, requeued } = await next.recover();
      expect([finished.map((t) => [t.id, t.status]), requeued, onRecovered.mock.calls.length]).toEqual([[['later', 'cancelled']], [], 1]);
    });

    it('marks the record cancelled itself when no runner holds the store, and reports unknown and finished ids', async () => {
      const r = runner();
      const done = await r.submit(() => 1);
      await r.onIdle();
      await r.stop();
      const store = open();
      store.write([{ ...store.get(done.id)!, id: 'left-pending', status: 'pending', delivered: false }]);
      expect(store.requestCancel('left-pending')).toMatchObject({ outcome: 'cancelled', task: { status: 'cancelled', delivered: false } });
      expect(store.requestCancel(done.id)).toMatchObject({ outcome: 'finished', task: { status: 'completed' } });
      expect(store.requestCancel('nope')).toEqual({ outcome: 'not-found' });
    });
  });

  describe('when the store fails', () => {
    it('reports a failed write on the error event (source store) and writes it on a later poll', async () => {
      const store = open();
      let writes = 0;
      const gate = deferred<number>();
      const flaky = delegate(store, {
        write: (records) => {
          // The submit's write succeeds; the completion's first write fails.
          writes += 1;
          if (writes === 2) throw new Error('disk full');
          return store.write(records);
        },
      });
      const r = new BackgroundRunner({ store: flaky });
      runners.push(r);
      const errors: Parameters<RunnerEvents['error']>[0][] = [];
      r.on('error', (event) => errors.push(event));
      const task = await r.submit(() => gate.promise);
      gate.resolve(1);
      await task.wait();
      await vi.waitFor(() => expect(open().get(task.id)?.status).toBe('completed'), { timeout: 5_000 });
      expect(errors).toEqual([{ error: new Error('disk full'), source: 'store', taskId: undefined }]);
    });

    it('reports a failed release on the error event (source store) and still stops: stop() resolves', async () => {
      const store = open();
      const stuck = delegate(store, {
        release: () => {
          throw new Error('database is locked');
        },
      });
      const r = new BackgroundRunner({ store: stuck });
      const errors: Parameters<RunnerEvents['error']>[0][] = [];
      r.on('error', (event) => errors.push(event));
      const task = await r.submit(() => new Promise(() => {}));
      await expect(r.stop()).resolves.toBeUndefined();
      expect([r.isStopped, task.status, open().get(task.id)?.status]).toEqual([true, 'cancelled', 'cancelled']);
      expect(errors).toEqual([{ error: new Error('database is locked'), source: 'store', taskId: undefined }]);
    });

    it('reports once, with StoreLockedError, that a live process took its lock', async () => {
      const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
      try {
        const store = open();
        let polls = 0;
        const counted = delegate(store, {
          poll: (owner) => {
            polls += 1;
            return store.poll(owner);
          },
        });
        const r = new BackgroundRunner({ store: counted });
        runners.push(r);
        const errors: unknown[] = [];
        r.on('error', ({ error }) => errors.push(error));
        const raw = new Database(db.path);
        raw.prepare("UPDATE lock SET owner = 'thief', pid = ?").run(sleeper.pid);
        raw.close();
        await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 5_000 });
        const seen = polls;
        await new Promise((resolve) => setTimeout(resolve, 600));
        // It stops polling (and writing): the lock is the other process's now.
        expect(polls).toBe(seen);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(StoreLockedError);
      } finally {
        sleeper.kill();
      }
    });
  });

  describe('options', () => {
    it('rejects a bad path, staleAfter and store', () => {
      expect(() => sqliteStore({ path: '' })).toThrow('Expected `path` to be a non-empty string, got `""` (string)');
      expect(() => sqliteStore({ path: db.path, staleAfter: 0 })).toThrow(RangeError);
      expect(() => new BackgroundRunner({ store: {} as never })).toThrow(/Expected `store` to be a TaskStore/);
      expect(() => new BackgroundRunner({ resume: 'later' as never })).toThrow("Expected `resume` to be 'requeue' or 'mark-lost'");
    });

    it('refuses a missing file with mustExist', () => {
      expect(() => sqliteStore({ path: `${db.path}.missing`, mustExist: true })).toThrow();
    });
  });
});
