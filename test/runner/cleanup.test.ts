import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import { sleepWork } from '../helpers/tasks.js';

describe('auto-cleanup', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('removes a finished task cleanupDelay ms after it finished, not before', async () => {
    const runner = new BackgroundRunner({ cleanupDelay: 1_000 });
    const early = await runner.submit(sleepWork(100, 'a'));
    const late = await runner.submit(sleepWork(600, 'b'));
    await vi.advanceTimersByTimeAsync(1_099);
    expect(runner.getTask(early.id)).toBe(early);
    await vi.advanceTimersByTimeAsync(1);
    expect(runner.getTask(early.id)).toBeUndefined();
    expect(runner.getTask(late.id)).toBe(late);
    await vi.advanceTimersByTimeAsync(500);
    expect(runner.tasks).toEqual([]);
    expect(early.result).toBe('a'); // the handle keeps its state
  });

  it('removes cancelled pending tasks too', async () => {
    const runner = new BackgroundRunner({ cleanupDelay: 10, maxConcurrentTasks: 1 });
    await runner.submit(() => new Promise(() => undefined));
    const queued = await runner.submit(() => 1);
    await queued.cancel();
    await vi.advanceTimersByTimeAsync(10);
    expect(runner.getTask(queued.id)).toBeUndefined();
    expect(runner.tasks).toHaveLength(1);
  });

  it('keeps finished tasks forever with autoCleanup off', async () => {
    const runner = new BackgroundRunner({ autoCleanup: false, cleanupDelay: 1 });
    const task = await runner.submit(() => 1);
    await task.wait();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(runner.tasks).toEqual([task]);
  });

  it('schedules one cleanup timer for many tasks finishing together', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 100, cleanupDelay: 5_000 });
    for (let i = 0; i < 100; i += 1) await runner.submit(() => i);
    await runner.onIdle();
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runner.tasks).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  describe('when cleanupDelay is 0', () => {
    it('removes finished tasks without a timer, even while no timer can run', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 10, cleanupDelay: 0 });
      // A producer whose tasks all settle in microtasks never lets a timer phase run.
      for (let batch = 0; batch < 5; batch += 1) {
        for (let i = 0; i < 100; i += 1) void runner.submit(async () => i);
        await runner.onIdle();
        await Promise.resolve();
        expect(runner.tasks.length).toBe(0);
      }
      expect(vi.getTimerCount()).toBe(0);
    });

    it('keeps the handle readable after removal', async () => {
      const runner = new BackgroundRunner({ cleanupDelay: 0 });
      const task = await runner.submit(() => 'done');
      await expect(task.wait()).resolves.toBe('done');
      await runner.onIdle();
      await Promise.resolve();
      expect(runner.getTask(task.id)).toBeUndefined();
      expect(task.status).toBe('completed');
    });
  });

  it('does not keep the process alive for its cleanup timer', async () => {
    vi.useRealTimers();
    const runner = new BackgroundRunner({ cleanupDelay: 300_000 });
    const handles: { hasRef(): boolean }[] = [];
    const original = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms: number) => {
      const handle = original(fn, ms);
      handles.push(handle);
      return handle;
    }) as typeof setTimeout);
    await (await runner.submit(() => 1)).wait();
    await new Promise((resolve) => setImmediate(resolve));
    spy.mockRestore();
    expect(handles.length).toBeGreaterThan(0);
    expect(handles.every((handle) => !handle.hasRef())).toBe(true);
    await runner.stop();
  });
  describe('when more tasks finish than maxFinishedTasks', () => {
    it('removes the oldest finished tasks first, before their delay is up', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1, maxFinishedTasks: 3 });
      const tasks = [];
      for (let i = 0; i < 5; i += 1) tasks.push(await runner.submit(sleepWork(10, i)));
      await vi.advanceTimersByTimeAsync(50);
      expect(runner.isIdle).toBe(true);
      expect(runner.tasks).toEqual(tasks.slice(2));
      expect(tasks.map((t) => t.result)).toEqual([0, 1, 2, 3, 4]); // handles keep their state
      await vi.advanceTimersByTimeAsync(300_000);
      expect(runner.tasks).toEqual([]);
    });

    it('holds at most 10,000 finished tasks by default', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1_000 });
      for (let i = 0; i < 12_000; i += 1) await runner.submit(() => i);
      await runner.onIdle();
      await vi.advanceTimersByTimeAsync(0);
      expect(runner.tasks).toHaveLength(10_000);
      expect(runner.tasks[0]!.result).toBe(2_000);
    });

    it('keeps nothing with 0, and everything with autoCleanup off', async () => {
      const none = new BackgroundRunner({ maxFinishedTasks: 0 });
      await (await none.submit(() => 1)).wait();
      await vi.advanceTimersByTimeAsync(0);
      expect(none.tasks).toEqual([]);
      const all = new BackgroundRunner({ maxFinishedTasks: 1, autoCleanup: false });
      for (let i = 0; i < 3; i += 1) await (await all.submit(() => i)).wait();
      expect(all.tasks).toHaveLength(3);
    });

    it('rejects a value that is not a count', () => {
      expect(() => new BackgroundRunner({ maxFinishedTasks: -1 })).toThrow('`maxFinishedTasks`');
      expect(() => new BackgroundRunner({ maxFinishedTasks: 1.5 })).toThrow('`maxFinishedTasks`');
    });
  });
});
