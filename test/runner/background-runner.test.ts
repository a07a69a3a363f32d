import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, BackgroundTask, TaskCancelledError, TaskStatus } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

describe('BackgroundRunner', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('submit', () => {
    it('runs the work with its args and a context, and resolves wait() with the result', async () => {
      const runner = new BackgroundRunner();
      const work = vi.fn(async (topic: string, depth: number, ctx: TaskContext) => `${topic}:${depth}:${ctx.taskId}`);
      const task = await runner.submit(work, { args: ['AI', 2], name: 'research' });
      expect(task).toBeInstanceOf(BackgroundTask);
      expect(task.name).toBe('research');
      await expect(task.wait()).resolves.toBe(`AI:2:${task.id}`);
      expect(task.status).toBe(TaskStatus.COMPLETED);
      expect(task.isSuccessful).toBe(true);
      expect(task.progress).toBe(1);
    });

    it('gives each task a uuid and names it after the function by default', async () => {
      const runner = new BackgroundRunner();
      async function summarise() {
        return 1;
      }
      const a = await runner.submit(summarise);
      const b = await runner.submit(() => 2);
      expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(a.id).not.toBe(b.id);
      expect(a.name).toBe('summarise');
      expect(
        (
          await runner.submit(function () {
            return 1;
          })
        ).name,
      ).toBe('task');
    });

    it('handles a sync function like an async one: return value and throw', async () => {
      const runner = new BackgroundRunner();
      const ok = await runner.submit((x: number) => x * 2, { args: [21] });
      const bad = await runner.submit(() => {
        throw new Error('sync boom');
      });
      await expect(ok.wait()).resolves.toBe(42);
      await expect(bad.wait()).rejects.toThrow('sync boom');
      expect(bad.status).toBe('failed');
    });

    it('starts the task right away when a slot is free', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const gate = deferred();
      const first = await runner.submit(() => gate.promise);
      const second = await runner.submit(() => 1);
      expect(first.status).toBe('running');
      expect(second.status).toBe('pending');
      gate.resolve(undefined);
      await second.wait();
      expect(second.status).toBe('completed');
    });

    it('records timestamps and duration from the clock', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(1_500, 'done'));
      expect(task.createdAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
      expect(task.startedAt?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
      expect(task.completedAt).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1_500);
      expect(task.completedAt?.toISOString()).toBe('2026-01-01T00:00:01.500Z');
      expect(task.durationMs).toBe(1_500);
    });
  });

  describe('concurrency', () => {
    it('never runs more than maxConcurrentTasks, and admits in submission order', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });
      let running = 0;
      let peak = 0;
      const started: number[] = [];
      const work = async (i: number) => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 100 + (i % 3) * 50));
        running -= 1;
      };
      for (let i = 0; i < 10; i += 1) await runner.submit(work, { args: [i] });
      expect(runner.runningTasks).toHaveLength(3);
      expect(runner.pendingTasks).toHaveLength(7);
      await vi.runAllTimersAsync();
      await runner.waitAll();
      expect(peak).toBe(3);
      expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });

  describe('task lists', () => {
    it('exposes tasks, runningTasks, pendingTasks, getTask and listTasks as plain records', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const gate = deferred();
      const a = await runner.submit(() => gate.promise, { name: 'a', metadata: { user: 'u1' } });
      const b = await runner.submit(() => 2, { name: 'b' });
      expect(runner.tasks).toEqual([a, b]);
      expect(runner.runningTasks).toEqual([a]);
      expect(runner.pendingTasks).toEqual([b]);
      expect(runner.getTask(b.id)).toBe(b);
      expect(runner.getTask('missing')).toBeUndefined();
      gate.resolve('A');
      await runner.waitAll();
      const records = runner.listTasks({ status: 'completed' });
      expect(records.map((r) => r.name)).toEqual(['a', 'b']);
      expect(records[0]).toMatchObject({ status: 'completed', result: 'A', metadata: { user: 'u1' }, error: null });
      expect(JSON.parse(JSON.stringify(records))).toEqual(records);
      expect(runner.listTasks({ status: ['failed', 'cancelled'] })).toEqual([]);
    });
  });

  describe('cancelTask', () => {
    it('cancels a pending task, which then never runs', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const gate = deferred();
      await runner.submit(() => gate.promise);
      const work = vi.fn();
      const queued = await runner.submit(work);
      await expect(runner.cancelTask(queued.id)).resolves.toBe(true);
      expect(queued.status).toBe('cancelled');
      gate.resolve(undefined);
      await runner.waitAll();
      expect(work).not.toHaveBeenCalled();
      await expect(queued.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('cancels a running task and aborts its signal with the TaskCancelledError', async () => {
      const runner = new BackgroundRunner();
      let signal!: AbortSignal;
      const task = await runner.submit((ctx: TaskContext) => {
        signal = ctx.signal;
        return new Promise(() => undefined);
      });
      await expect(task.cancel('changed my mind')).resolves.toBe(true);
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBe(task.error);
      expect(task.error).toBeInstanceOf(TaskCancelledError);
      expect(task.error?.message).toContain('changed my mind');
    });

    it('resolves false for a finished or unknown task', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(() => 1);
      await task.wait();
      await expect(runner.cancelTask(task.id)).resolves.toBe(false);
      await expect(runner.cancelTask('nope')).resolves.toBe(false);
      expect(task.status).toBe('completed');
    });
  });

  describe('cancelAll', () => {
    it('cancels pending tasks before running ones, so none starts in between', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
      const started: string[] = [];
      runner.on('started', ({ task }) => started.push(task.name));
      for (const name of ['a', 'b', 'c', 'd']) await runner.submit(() => new Promise(() => undefined), { name });
      await expect(runner.cancelAll()).resolves.toBe(4);
      expect(started).toEqual(['a', 'b']);
      expect(runner.tasks.every((t) => t.status === 'cancelled')).toBe(true);
      expect(runner.isIdle).toBe(true);
    });
  });

  describe('waitAll', () => {
    it('resolves with every task once nothing is pending or running, failures included', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
      await runner.submit(sleepWork(100, 1));
      await runner.submit(async () => {
        throw new Error('x');
      });
      await runner.submit(sleepWork(300, 3));
      const all = runner.waitAll();
      await vi.advanceTimersByTimeAsync(400);
      const tasks = await all;
      expect(tasks.map((t) => t.status)).toEqual(['completed', 'failed', 'completed']);
    });

    it('rejects with WaitTimeoutError when tasks outlast the timeout, leaving them running', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(1_000, 1));
      const waiting = expect(runner.waitAll({ timeout: 100 })).rejects.toMatchObject({ name: 'WaitTimeoutError', taskId: undefined });
      await vi.advanceTimersByTimeAsync(100);
      await waiting;
      expect(task.status).toBe('running');
    });
  });

  describe('clearCompleted', () => {
    it('removes finished tasks only, and returns how many', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const done = await runner.submit(() => 1);
      await done.wait();
      const gate = deferred();
      const running = await runner.submit(() => gate.promise);
      expect(runner.clearCompleted()).toBe(1);
      expect(runner.tasks).toEqual([running]);
      expect(done.result).toBe(1);
      gate.resolve(undefined);
    });
  });

  describe('stop', () => {
    it('cancels everything, aborts running work and lets timers go', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      let signal!: AbortSignal;
      const running = await runner.submit(
        (ctx: TaskContext) => {
          signal = ctx.signal;
          return new Promise(() => undefined);
        },
        { timeout: 60_000 },
      );
      const pending = await runner.submit(() => 1);
      await runner.stop();
      expect(running.status).toBe('cancelled');
      expect(pending.status).toBe('cancelled');
      expect(signal.aborted).toBe(true);
      expect(runner.isStopped).toBe(true);
      expect(runner.supervisor.getSnapshot().status).toBe('done');
      expect(vi.getTimerCount()).toBe(0);
      await runner.stop(); // idempotent
    });
  });

  describe('submitAgent', () => {
    it('calls agent.start(prompt, { signal }) and resolves its answer', async () => {
      const runner = new BackgroundRunner();
      const agent = {
        name: 'researcher',
        start: vi.fn(
          async (prompt: string, options: { signal: AbortSignal }) => `answer to ${prompt} ${options.signal instanceof AbortSignal}`,
        ),
      };
      const task = await runner.submitAgent(agent, 'Research AI trends', { timeout: 5_000 });
      await expect(task.wait()).resolves.toBe('answer to Research AI trends true');
      expect(task.name).toBe('researcher.start');
      expect(agent.start).toHaveBeenCalledTimes(1);
    });

    it('falls back to chat, then run; rejects with a TypeError when there is neither', async () => {
      const runner = new BackgroundRunner();
      const chat = await runner.submitAgent({ chat: async (p: string) => `chat ${p}` }, 'hi', { name: 'c' });
      await expect(chat.wait()).resolves.toBe('chat hi');
      const run = await runner.submitAgent({ run: (p: string) => `run ${p}` }, 'hi');
      await expect(run.wait()).resolves.toBe('run hi');
      await expect(runner.submitAgent({ ask: () => 1 }, 'hi')).rejects.toThrow(TypeError);
      await expect(runner.submitAgent({ run: () => 1 }, 42 as never)).rejects.toThrow('Expected `prompt` to be a string');
    });
  });

  describe('events', () => {
    it('emits submitted, started, progress and a final event with the task, then idle', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const log: string[] = [];
      for (const name of ['submitted', 'started', 'completed', 'failed', 'cancelled'] as const) {
        runner.on(name, ({ task }: { task: BackgroundTask }) => log.push(`${name}:${task.name}`));
      }
      runner.on('progress', ({ task, progress, message }) => log.push(`progress:${task.name}:${progress}:${message}`));
      runner.on('idle', () => log.push('idle'));
      const gate = deferred();
      await runner.submit(
        async (ctx: TaskContext) => {
          ctx.reportProgress(0.5, 'half');
          await gate.promise;
          return 1;
        },
        { name: 'a' },
      );
      await runner.submit(
        async () => {
          throw new Error('no');
        },
        { name: 'b' },
      );
      const c = await runner.submit(() => 3, { name: 'c' });
      await c.cancel();
      gate.resolve(undefined);
      await runner.waitAll();
      expect(log).toEqual([
        'submitted:a',
        'started:a',
        'progress:a:0.5:half',
        'submitted:b',
        'submitted:c',
        'cancelled:c',
        'completed:a',
        'started:b',
        'failed:b',
        'idle',
      ]);
    });

    it('off() removes a listener and once() fires once', async () => {
      const runner = new BackgroundRunner();
      const on = vi.fn();
      const once = vi.fn();
      runner.on('completed', on).once('completed', once);
      await (await runner.submit(() => 1)).wait();
      runner.off('completed', on);
      await (await runner.submit(() => 2)).wait();
      expect(on).toHaveBeenCalledTimes(1);
      expect(once).toHaveBeenCalledTimes(1);
      expect(runner.listenerCount('completed')).toBe(0);
    });
  });

  describe('onIdle', () => {
    it('resolves at once when idle, else when the last task finishes', async () => {
      const runner = new BackgroundRunner();
      await runner.onIdle();
      const task = await runner.submit(sleepWork(50, 1));
      let idle = false;
      const waiting = runner.onIdle().then(() => (idle = true));
      await vi.advanceTimersByTimeAsync(49);
      expect(idle).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await waiting;
      expect(task.status).toBe('completed');
    });
  });
});
