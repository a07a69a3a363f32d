import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, TaskLostError } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { leaveBehind, record, tempDb } from '../helpers/store.js';
import { deferred, flushMicrotasks } from '../helpers/tasks.js';

/** Where features meet the store: every task ends in one final state, in memory and on disk. */
describe('BackgroundRunner with a store', () => {
  let db: ReturnType<typeof tempDb>;
  let reader: SqliteTaskStore | undefined;
  /** The stored record, read through a second handle once pending writes are flushed. */
  const stored = async (id: string) => {
    await flushMicrotasks();
    reader ??= sqliteStore({ path: db.path });
    return reader.get(id);
  };
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(() => {
    reader?.close();
    reader = undefined;
    db.cleanup();
  });

  describe('when a streaming task fails an attempt and is retried', () => {
    it('stores only the last attempt’s collected items and calls onComplete once', async () => {
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
      const onComplete = vi.fn();
      let attempt = 0;
      const task = await runner.submit(
        async function* () {
          attempt += 1;
          yield `a${attempt}`;
          yield `b${attempt}`;
          if (attempt === 1) throw new Error('flaky');
        },
        { retries: 1, collect: (items: string[]) => items, onComplete },
      );
      void task.actor; // observed from the start: the actor drives the stream and the retry
      await expect(task.wait()).resolves.toEqual(['a2', 'b2']);
      const row = await stored(task.id);
      expect([row?.status, row?.attempt, row?.result, row?.delivered]).toEqual(['completed', 2, ['a2', 'b2'], true]);
      expect([task.toJSON().chunks, onComplete.mock.calls.length]).toEqual([2, 1]);
      await runner.stop();
    });
  });

  describe('when a streaming task gains an actor mid-stream and is then cancelled', () => {
    it('stops the stream, stores cancelled and calls onComplete once', async () => {
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
      const onComplete = vi.fn();
      const gate = deferred<void>();
      const pulled: number[] = [];
      const task = await runner.submit(
        async function* () {
          for (let i = 0; ; i += 1) {
            pulled.push(i);
            yield i;
            await gate.promise;
          }
        },
        { onComplete },
      );
      await flushMicrotasks();
      void task.actor;
      await task.cancel('enough');
      gate.resolve();
      await flushMicrotasks();
      const row = await stored(task.id);
      expect([task.status, row?.status, row?.error?.name, onComplete.mock.calls.length]).toEqual([
        'cancelled',
        'cancelled',
        'TaskCancelledError',
        1,
      ]);
      // An async generator runs on to its next `yield` before the stream's return() ends it; that item is dropped.
      await flushMicrotasks();
      expect([pulled, task.toJSON().chunks]).toEqual([[0, 1], 1]);
      await runner.stop();
    });
  });

  describe('when stop({ drain: true }) runs with tasks running and pending', () => {
    it('stores the finished one completed and the never-started one cancelled, each delivered once', async () => {
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }), maxConcurrentTasks: 1 });
      const onComplete = vi.fn();
      const gate = deferred<string>();
      const running = await runner.submit((_ctx: TaskContext) => gate.promise, { onComplete });
      const waiting = await runner.submit(() => 'never', { onComplete });
      await flushMicrotasks();
      void running.actor;
      const stopped = runner.stop({ drain: true });
      gate.resolve('done');
      await stopped;
      expect([(await stored(running.id))?.status, (await stored(running.id))?.result]).toEqual(['completed', 'done']);
      expect((await stored(waiting.id))?.status).toBe('cancelled');
      expect(onComplete.mock.calls.map(([task]) => [(task as BackgroundTask).id, (task as BackgroundTask).status])).toEqual([
        [waiting.id, 'cancelled'],
        [running.id, 'completed'],
      ]);
    });
  });

  describe('when recover() ends a task lost', () => {
    it('treats lost like every other final state: wait, isCompleted, listTasks, registry, clearCompleted', async () => {
      leaveBehind(db.path, [record({ id: 'gone', handler: null, args: null, status: 'retrying', attempt: 1, maxAttempts: 3 })]);
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
      const registry = runner.registry;
      const { lost } = await runner.recover();
      const [task] = lost;
      await expect(task!.wait()).rejects.toBeInstanceOf(TaskLostError);
      expect([task!.isCompleted, runner.isIdle, runner.listTasks({ status: 'lost' }).map((r) => r.id)]).toEqual([true, true, ['gone']]);
      expect(registry.getSnapshot().context.counts.lost).toBe(1);
      expect((await stored('gone'))?.status).toBe('lost');
      expect(runner.clearCompleted()).toBe(1);
      expect(registry.getSnapshot().context.counts.lost).toBe(0);
      await runner.stop();
    });
  });
});
