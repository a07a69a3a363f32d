import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, TaskLostError } from '../../src/index.js';
import type { BackgroundTask } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../../src/store/sqlite/sqlite-store.js';
import { leaveBehind, record, tempDb } from '../helpers/store.js';
import { flushMicrotasks } from '../helpers/tasks.js';

describe('BackgroundRunner#recover', () => {
  let db: ReturnType<typeof tempDb>;
  const runners: BackgroundRunner[] = [];
  const readers: SqliteTaskStore[] = [];
  const runner = (options: ConstructorParameters<typeof BackgroundRunner>[0] = {}) => {
    const r = new BackgroundRunner({ store: sqliteStore({ path: db.path }), ...options });
    runners.push(r);
    return r;
  };
  /** The stored record, read through a second handle once pending writes are flushed. */
  const stored = async (id: string) => {
    await flushMicrotasks();
    const reader = sqliteStore({ path: db.path });
    readers.push(reader);
    return reader.get(id);
  };
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop();
    for (const s of readers.splice(0)) s.close();
    db.cleanup();
  });

  describe('when a dead process left named tasks active', () => {
    it('re-queues them with their id, args and attempt count, and hands their outcome to onRecovered', async () => {
      leaveBehind(db.path, [
        record({ id: 'a', args: [2], status: 'running', attempt: 1, startedAt: 1_100, priority: 5 }),
        record({ id: 'b', args: [3], status: 'pending' }),
        record({ id: 'c', args: [4], status: 'retrying', attempt: 2, maxAttempts: 3 }),
      ]);
      const onRecovered = vi.fn();
      const r = runner({ onRecovered });
      const calls: [number, string][] = [];
      r.define('work', (x: number, ctx: { taskId: string }) => {
        calls.push([x, ctx.taskId]);
        return x * 10;
      });
      const result = await r.recover();
      expect(result.requeued.map((t) => t.id)).toEqual(['a', 'b', 'c']);
      expect([result.lost, result.finished, result.waiting]).toEqual([[], [], []]);
      await r.onIdle();
      expect(calls).toEqual([
        [2, 'a'],
        [3, 'b'],
        [4, 'c'],
      ]);
      expect(result.requeued.map((t) => [t.status, t.result, t.attempt])).toEqual([
        ['completed', 20, 2],
        ['completed', 30, 1],
        ['completed', 40, 3],
      ]);
      expect(onRecovered.mock.calls.map(([task]) => (task as BackgroundTask).id)).toEqual(['a', 'b', 'c']);
      expect(await stored('a')).toMatchObject({ status: 'completed', result: 20, attempt: 2, delivered: true, priority: 5 });
    });

    it('gives a re-queued task one more run even when its retries were used up', async () => {
      leaveBehind(db.path, [record({ id: 'a', status: 'running', attempt: 1, maxAttempts: 1 })]);
      const r = runner();
      let runs = 0;
      r.define('work', () => {
        runs += 1;
        throw new Error('still failing');
      });
      const [task] = (await r.recover()).requeued;
      await expect(task!.wait()).rejects.toThrow('still failing');
      expect([runs, task!.attempt, task!.status]).toEqual([1, 2, 'failed']);
    });

    it('leaves tasks whose handler is not defined in the store, and re-queues them once it is', async () => {
      leaveBehind(db.path, [record({ id: 'a', handler: 'later', status: 'pending' })]);
      const r = runner();
      expect(await r.recover()).toMatchObject({ requeued: [], lost: [], waiting: ['a'] });
      expect(await stored('a')).toMatchObject({ status: 'pending', owner: 'dead-runner' });
      r.define('later', () => 'ran');
      const { requeued } = await r.recover();
      await expect(requeued[0]!.wait()).resolves.toBe('ran');
    });

    it("ends them lost with resume: 'mark-lost'", async () => {
      leaveBehind(db.path, [record({ id: 'a', status: 'running', attempt: 1 })]);
      const r = runner({ resume: 'mark-lost' });
      r.define('work', () => 1);
      const { lost } = await r.recover();
      expect(lost[0]!.status).toBe('lost');
      expect(lost[0]!.error?.message).toContain("resume: 'mark-lost'");
    });
  });

  describe('when a dead process left function tasks active', () => {
    it('ends them lost with a TaskLostError that says how to avoid it, emits lost and recovered', async () => {
      leaveBehind(db.path, [record({ id: 'f', name: 'scrape', handler: null, args: null, status: 'running', attempt: 1 })]);
      const r = runner();
      const lostEvents: string[] = [];
      const recovered: string[] = [];
      r.on('lost', ({ task, error }) => lostEvents.push(`${task.id}:${error.name}`));
      r.on('recovered', ({ task }) => recovered.push(task.id));
      const { lost } = await r.recover();
      const task = lost[0]!;
      expect(task.status).toBe('lost');
      expect(task.isCompleted).toBe(true);
      expect(task.error).toBeInstanceOf(TaskLostError);
      expect(task.error?.message).toBe(
        'Task "f" was running when its process died; it cannot be re-run because it was submitted as a function — submit it by name with runner.define() to have it re-queued',
      );
      await expect(task.wait()).rejects.toBeInstanceOf(TaskLostError);
      expect([lostEvents, recovered]).toEqual([['f:TaskLostError'], ['f']]);
      expect(r.getTask('f')?.status).toBe('lost');
      expect(r.registry.getSnapshot().context.counts.lost).toBe(1);
      expect(await stored('f')).toMatchObject({ status: 'lost', delivered: true, error: { name: 'TaskLostError' } });
    });
  });

  describe('when a dead process left finished tasks undelivered', () => {
    it('delivers them to onRecovered with their result or error', async () => {
      leaveBehind(db.path, [
        record({ id: 'ok', status: 'completed', result: { n: 1 }, completedAt: 2_000, attempt: 1 }),
        record({ id: 'bad', status: 'failed', error: { name: 'TypeError', message: 'nope' }, attempt: 1 }),
        record({ id: 'seen', status: 'completed', result: 2, delivered: true }),
      ]);
      const got: [string, unknown, string | undefined][] = [];
      const r = runner({ onRecovered: (t) => got.push([t.id, t.result, t.error?.name]) });
      const { finished } = await r.recover();
      expect(finished.map((t) => t.status)).toEqual(['completed', 'failed']);
      expect(got).toEqual([
        ['ok', { n: 1 }, undefined],
        ['bad', undefined, 'TypeError'],
      ]);
      expect(await stored('ok')).toMatchObject({ delivered: true });
    });

    it('keeps them undelivered when nothing receives them, for a later recover()', async () => {
      leaveBehind(db.path, [record({ id: 'ok', status: 'completed', result: 1 })]);
      const first = runner();
      expect((await first.recover()).finished).toHaveLength(1);
      expect(await stored('ok')).toMatchObject({ delivered: false });
      await first.stop();
      const got: string[] = [];
      const second = runner({ onRecovered: (t) => got.push(t.id) });
      await second.recover();
      expect(got).toEqual(['ok']);
    });
  });

  describe('when a cancel was requested through the store', () => {
    it('ends a task left active with that request cancelled instead of re-running it', async () => {
      leaveBehind(db.path, [record({ id: 'a', status: 'pending' })]);
      const reader = sqliteStore({ path: db.path, staleAfter: 60_000 });
      readers.push(reader);
      // The dead runner's lock is still fresh-looking, but its pid is gone: the store cancels directly.
      expect(reader.requestCancel('a').outcome).toBe('cancelled');
      const r = runner();
      const run = vi.fn();
      r.define('work', run);
      const { finished, requeued } = await r.recover();
      expect(requeued).toEqual([]);
      expect(finished[0]!.status).toBe('cancelled');
      expect(run).not.toHaveBeenCalled();
    });
  });

  it('skips what an earlier call already took over', async () => {
    leaveBehind(db.path, [record({ id: 'a', status: 'pending' })]);
    const r = runner();
    r.define('work', () => new Promise(() => {}));
    expect((await r.recover()).requeued).toHaveLength(1);
    expect((await r.recover()).requeued).toHaveLength(0);
  });

  it('does not touch tasks this runner submitted itself', async () => {
    const r = runner();
    r.define('work', () => new Promise(() => {}));
    await r.submit('work');
    await flushMicrotasks();
    expect(await r.recover()).toEqual({ requeued: [], lost: [], finished: [], waiting: [] });
  });

  it('needs a store', async () => {
    await expect(new BackgroundRunner().recover()).rejects.toThrow(/Expected `store` to be a TaskStore for recover\(\)/);
  });
});
