import { waitFor } from 'xstate';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, TaskCancelledError, TaskTimeoutError, WaitTimeoutError } from '../../src/index.js';
import type { TaskContext, TaskSnapshot } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

describe('BackgroundTask', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('wait', () => {
    it('rejects with the work’s own error, and with the same error on every later call', async () => {
      const runner = new BackgroundRunner();
      const boom = new Error('boom');
      const task = await runner.submit(async () => {
        throw boom;
      });
      await expect(task.wait()).rejects.toBe(boom);
      await expect(task.wait()).rejects.toBe(boom);
      expect(task.error).toBe(boom);
      expect(task.isCompleted).toBe(true);
      expect(task.isSuccessful).toBe(false);
    });

    it('rejects with WaitTimeoutError while the task keeps running, and can wait again', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(500, 'late'));
      const first = task.wait({ timeout: 100 });
      const check = expect(first).rejects.toBeInstanceOf(WaitTimeoutError);
      await vi.advanceTimersByTimeAsync(100);
      await check;
      expect(task.status).toBe('running');
      const second = task.wait();
      await vi.advanceTimersByTimeAsync(400);
      await expect(second).resolves.toBe('late');
    });

    it('rejects with TaskCancelledError when the task is cancelled while waited on', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(() => new Promise(() => undefined));
      const waiting = task.wait();
      await task.cancel();
      await expect(waiting).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('validates its timeout', () => {
      const runner = new BackgroundRunner();
      const task = runner.submit(() => 1);
      return task.then((t) => expect(() => t.wait({ timeout: -1 })).toThrow(RangeError));
    });
  });

  describe('toJSON', () => {
    it('is a plain record with ISO dates, the error name and message, and metadata', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(250, { ok: true }), { name: 'job', metadata: { user: 'ada' } });
      await vi.advanceTimersByTimeAsync(250);
      expect(task.toJSON()).toEqual({
        id: task.id,
        name: 'job',
        status: 'completed',
        progress: 1,
        message: null,
        chunks: 0,
        result: { ok: true },
        error: null,
        createdAt: '1970-01-01T00:00:00.000Z',
        startedAt: '1970-01-01T00:00:00.000Z',
        completedAt: '1970-01-01T00:00:00.250Z',
        durationMs: 250,
        attempt: 1,
        metadata: { user: 'ada' },
      });
      const timedOut = await runner.submit(sleepWork(1_000, 1), { timeout: 10 });
      await vi.advanceTimersByTimeAsync(10);
      expect(timedOut.toJSON().error).toEqual({ name: 'TaskTimeoutError', message: expect.stringContaining('timed out after 10 ms') });
    });
  });

  describe('actor and subscribe', () => {
    it('gives a queued task a real actor in pending with the same data', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      await runner.submit(() => new Promise(() => undefined));
      const queued = await runner.submit(() => 1, { name: 'queued', metadata: { n: 1 } });
      const snapshot = queued.actor.getSnapshot();
      expect(snapshot.value).toBe('pending');
      expect(snapshot.context).toMatchObject({ taskId: queued.id, name: 'queued', metadata: { n: 1 }, progress: 0 });
      expect(queued.actor).toBe(queued.actor);
    });

    it('streams every transition and progress report of a task observed from pending', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const gate = deferred();
      await runner.submit(() => gate.promise);
      const task = await runner.submit(async (ctx: TaskContext) => {
        ctx.reportProgress(0.3, 'reading');
        await new Promise((resolve) => setTimeout(resolve, 10));
        ctx.reportProgress(0.9, 'writing');
        return 'text';
      });
      const seen: string[] = [];
      task.subscribe((snap: TaskSnapshot) => seen.push(`${snap.value}:${snap.context.progress}`));
      gate.resolve(undefined);
      await vi.advanceTimersByTimeAsync(10);
      await task.wait();
      expect(seen).toEqual(['running:0', 'running:0.3', 'running:0.9', 'completed:1']);
      expect(task.getSnapshot().status).toBe('done');
    });

    it('takes over a task that is already running: its work continues and its timeout still fires', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(1_000, 'never'), { timeout: 300 });
      await vi.advanceTimersByTimeAsync(100);
      const actor = task.actor;
      expect(actor.getSnapshot().value).toBe('running');
      const done = waitFor(actor, (snap) => snap.status === 'done');
      await vi.advanceTimersByTimeAsync(200);
      const final = await done;
      expect(final.value).toBe('failed');
      expect(final.context.error).toBeInstanceOf(TaskTimeoutError);
      expect(task.status).toBe('failed');
      expect(task.completedAt?.getTime()).toBe(300);
    });

    it('takes over a running task whose work then completes through the actor', async () => {
      const runner = new BackgroundRunner();
      const gate = deferred<string>();
      const task = await runner.submit(() => gate.promise);
      const states: string[] = [];
      task.subscribe((snap) => states.push(String(snap.value)));
      gate.resolve('result');
      await expect(task.wait()).resolves.toBe('result');
      expect(states).toEqual(['completed']);
      expect(task.actor.getSnapshot().context.result).toBe('result');
    });

    it('cancels through the actor once it exists', async () => {
      const runner = new BackgroundRunner();
      let signal!: AbortSignal;
      const task = await runner.submit((ctx: TaskContext) => {
        signal = ctx.signal;
        return new Promise(() => undefined);
      });
      void task.actor;
      task.actor.send({ type: 'cancel', at: 5, reason: 'from the actor' });
      expect(task.status).toBe('cancelled');
      expect(signal.reason).toBe(task.error);
      expect(runner.isIdle).toBe(true);
    });
  });
});
