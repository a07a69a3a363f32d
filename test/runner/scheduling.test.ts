import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, QueueFullError, RunnerStoppedError, TaskCancelledError } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

describe('scheduling', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('priority', () => {
    it('admits higher priorities first, FIFO within a priority', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const order: string[] = [];
      const gate = deferred();
      await runner.submit(() => gate.promise, { name: 'blocker' });
      const work = (name: string) => () => void order.push(name);
      await runner.submit(work('low-1'), { priority: -1 });
      await runner.submit(work('normal-1'));
      await runner.submit(work('high-1'), { priority: 10 });
      await runner.submit(work('normal-2'));
      await runner.submit(work('high-2'), { priority: 10 });
      await runner.submit(work('low-2'), { priority: -1 });
      gate.resolve(undefined);
      await runner.waitAll();
      expect(order).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
    });

    it('rejects a non-finite priority', async () => {
      await expect(new BackgroundRunner().submit(() => 1, { priority: Number.NaN })).rejects.toThrow('`priority` to be a finite number');
    });
  });

  describe('rateLimit', () => {
    it('starts at most `max` tasks per `interval`, the rest when the window frees', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 10, rateLimit: { max: 2, interval: 1_000 } });
      const starts: number[] = [];
      for (let i = 0; i < 5; i += 1) await runner.submit(() => void starts.push(Date.now()));
      await vi.advanceTimersByTimeAsync(0);
      expect(starts).toEqual([0, 0]);
      await vi.advanceTimersByTimeAsync(999);
      expect(starts).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1);
      expect(starts).toEqual([0, 0, 1_000, 1_000]);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(starts).toEqual([0, 0, 1_000, 1_000, 2_000]);
    });

    it('limits each group on its own with groupRateLimit, without blocking other groups', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 10, groupRateLimit: { max: 1, interval: 500 } });
      const starts: string[] = [];
      const work = (name: string) => () => void starts.push(`${name}@${Date.now()}`);
      await runner.submit(work('openai-1'), { group: 'openai' });
      await runner.submit(work('openai-2'), { group: 'openai' });
      await runner.submit(work('anthropic-1'), { group: 'anthropic' });
      await runner.submit(work('ungrouped'));
      await vi.advanceTimersByTimeAsync(0);
      expect(starts.sort()).toEqual(['anthropic-1@0', 'openai-1@0', 'ungrouped@0']);
      await vi.advanceTimersByTimeAsync(500);
      expect(starts).toContain('openai-2@500');
    });

    it('rejects a malformed limit', () => {
      expect(() => new BackgroundRunner({ rateLimit: { max: 0, interval: 1_000 } })).toThrow('`rateLimit.max` to be a positive integer');
      expect(() => new BackgroundRunner({ rateLimit: { max: 1 } as never })).toThrow('`rateLimit.interval`');
    });
  });

  describe('setConcurrency', () => {
    it('admits more at once when grown, and lets running tasks finish when shrunk', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      for (let i = 0; i < 6; i += 1) await runner.submit(sleepWork(100, i));
      expect(runner.runningTasks).toHaveLength(1);
      runner.setConcurrency(3);
      expect(runner.runningTasks).toHaveLength(3);
      expect(runner.config.maxConcurrentTasks).toBe(3);
      runner.setConcurrency(1);
      expect(runner.runningTasks).toHaveLength(3);
      await vi.advanceTimersByTimeAsync(100);
      expect(runner.runningTasks).toHaveLength(1);
      expect(() => runner.setConcurrency(0)).toThrow(RangeError);
    });
  });

  describe('pause and resume', () => {
    it('stops admitting while paused; running work goes on', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const first = await runner.submit(sleepWork(100, 'first'));
      const second = await runner.submit(sleepWork(100, 'second'));
      runner.pause();
      expect(runner.isPaused).toBe(true);
      await vi.advanceTimersByTimeAsync(500);
      expect(first.status).toBe('completed');
      expect(second.status).toBe('pending');
      const third = await runner.submit(() => 'third');
      expect(third.status).toBe('pending');
      runner.resume();
      expect(runner.isPaused).toBe(false);
      expect(second.status).toBe('running');
      await vi.advanceTimersByTimeAsync(100);
      await expect(third.wait()).resolves.toBe('third');
    });
  });

  describe('stop({ drain: true })', () => {
    it('lets running tasks finish, cancels pending ones with a clear reason, refuses new ones', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const running = await runner.submit(sleepWork(300, 'finished'));
      const pending = await runner.submit(() => 'never');
      let stopped = false;
      const stopping = runner.stop({ drain: true }).then(() => (stopped = true));
      expect(pending.status).toBe('cancelled');
      expect(pending.error).toBeInstanceOf(TaskCancelledError);
      expect(pending.error?.message).toContain('the runner stopped before this task started');
      await expect(runner.submit(() => 1)).rejects.toBeInstanceOf(RunnerStoppedError);
      await vi.advanceTimersByTimeAsync(299);
      expect(stopped).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await stopping;
      expect(running.status).toBe('completed');
      expect(runner.isStopped).toBe(true);
    });

    it('cancels what still runs when the drain timeout passes', async () => {
      const runner = new BackgroundRunner();
      let signal!: AbortSignal;
      const slow = await runner.submit((ctx: TaskContext) => {
        signal = ctx.signal;
        return sleepWork(10_000, 'slow')(ctx);
      });
      const stopping = runner.stop({ drain: true, timeout: 500 });
      await vi.advanceTimersByTimeAsync(500);
      await stopping;
      expect(slow.status).toBe('cancelled');
      expect(slow.error?.message).toContain('the drain timeout passed');
      expect(signal.aborted).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('maxQueueSize', () => {
    it('rejects submissions past it with QueueFullError, and accepts again once tasks start', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1, maxQueueSize: 2 });
      await runner.submit(sleepWork(100, 'running'));
      await runner.submit(() => 'a');
      await runner.submit(() => 'b');
      const error = await runner.submit(() => 'c').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueueFullError);
      expect((error as QueueFullError).message).toContain('2 tasks are already pending');
      await vi.advanceTimersByTimeAsync(100);
      await expect(runner.submit(() => 'd')).resolves.toBeDefined();
    });
  });
});
