import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskCancelledError, TaskTimeoutError } from '../../src/index.js';
import type { TaskContext, TaskSnapshot, TaskStatus } from '../../src/index.js';
import { bullmqBackend } from '../../src/backends/bullmq/bullmq-backend.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import type { RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let runners: BackgroundRunner[] = [];
let count = 0;

/** A worker runner and a client runner on a fresh prefix (so tests never see each other's jobs). */
function pair(workerOptions: { maxConcurrentTasks?: number } = {}) {
  count += 1;
  const backend = bullmqBackend({ connection: redis.connection, prefix: `t${count}`, workerOptions: { stalledInterval: 1_000 } });
  const worker = new BackgroundRunner({ backend, maxConcurrentTasks: workerOptions.maxConcurrentTasks ?? 4 });
  const client = new BackgroundRunner({ backend });
  runners.push(worker, client);
  return { worker, client, backend };
}

/** Resolves once `check` holds (re-checked on every task change). */
function until<T>(runner: BackgroundRunner, check: () => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    const test = (): boolean => {
      const value = check();
      if (value === undefined || value === false) return false;
      resolve(value);
      return true;
    };
    if (test()) return;
    const listener = (): void => {
      if (test()) for (const event of events) runner.off(event, listener);
    };
    const events = ['started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'lost'] as const;
    for (const event of events) runner.on(event, listener);
  });
}

describe.skipIf(!hasRedis)('bullmqBackend', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await Promise.all(runners.map((runner) => runner.stop()));
    runners = [];
  });

  describe('when a worker defines the handler', () => {
    it('runs a task submitted by name in another runner and mirrors its states', async () => {
      const { worker, client } = pair();
      worker.define('double', async (n: number) => n * 2);
      const seen: TaskStatus[] = [];
      const task = await client.submit<number>('double', { args: [21] });
      task.subscribe((snapshot: TaskSnapshot) => seen.push(snapshot.value as TaskStatus));
      await expect(task.wait()).resolves.toBe(42);
      expect(task.status).toBe('completed');
      // The job may already run when submit() resolves: the states seen are a tail of the chart's path.
      expect(['pending,running,completed', 'running,completed', 'completed']).toContain(seen.join(','));
      expect(task.attempt).toBe(1);
    });

    it('delivers progress reports to onProgress and the progress event', async () => {
      const { worker, client } = pair();
      worker.define('steps', async (ctx: TaskContext) => {
        ctx.reportProgress(0.5, 'half');
        ctx.reportProgress(1, 'all');
        return 'ok';
      });
      const reports: (string | undefined)[] = [];
      const task = await client.submit('steps', { onProgress: (_fraction, message) => reports.push(message) });
      await task.wait();
      expect(reports.at(-1)).toBe('all');
      expect(task.progress).toBe(1);
    });

    it('delivers streamed chunks in order to onChunk', async () => {
      const { worker, client } = pair();
      worker.define('stream', async function* () {
        for (let i = 0; i < 20; i += 1) yield i;
      });
      const chunks: unknown[] = [];
      const task = await client.submit('stream', { onChunk: (chunk) => chunks.push(chunk) });
      await expect(task.wait()).resolves.toEqual([...Array(20).keys()]);
      expect(chunks).toEqual([...Array(20).keys()]);
    });

    it('retries a failed attempt and records it, then completes', async () => {
      const { worker, client } = pair();
      let calls = 0;
      worker.define('flaky', async (ctx: TaskContext) => {
        calls += 1;
        if (ctx.attempt === 1) throw new Error('first try fails');
        return ctx.attempt;
      });
      const task = await client.submit('flaky', { retries: 2, backoff: { type: 'fixed', delay: 10 } });
      await expect(task.wait()).resolves.toBe(2);
      expect(calls).toBe(2);
      expect(task.attempt).toBe(2);
      expect(task.attempts.map((a) => a.error.message)).toEqual(['first try fails']);
    });

    it('fails at once on NonRetryableError, with the same class on the client', async () => {
      const { worker, client } = pair();
      let calls = 0;
      worker.define('bad', async () => {
        calls += 1;
        throw new NonRetryableError('bad input');
      });
      const task = await client.submit('bad', { retries: 3 });
      const error = await task.wait().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NonRetryableError);
      expect((error as Error).message).toBe('bad input');
      expect(task.status).toBe('failed');
      expect(calls).toBe(1);
    });

    it('aborts a handler past its timeout with TaskTimeoutError, not retried with retryOnTimeout: false', async () => {
      const { worker, client } = pair();
      let aborted: unknown;
      worker.define('slow', (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject((aborted = ctx.signal.reason)))));
      const task = await client.submit('slow', { timeout: 100, retries: 2, retryOnTimeout: false });
      const error = await task.wait().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(aborted).toBeInstanceOf(TaskTimeoutError);
      expect(task.status).toBe('failed');
      expect(task.attempt).toBe(1);
    });

    it('cancels a running job from the client: the worker signal aborts and it is not retried', async () => {
      const { worker, client } = pair();
      let calls = 0;
      let reason: unknown;
      worker.define('forever', (ctx: TaskContext) => {
        calls += 1;
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject((reason = ctx.signal.reason))));
      });
      const task = await client.submit('forever', { retries: 3 });
      await until(client, () => task.status === 'running');
      const started = Date.now();
      await expect(client.cancelTask(task.id, 'not needed')).resolves.toBe(true);
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(reason).toBeInstanceOf(TaskCancelledError);
      expect(task.status).toBe('cancelled');
      expect(task.error?.message).toContain('not needed');
      expect(calls).toBe(1);
    });

    it('cancels a waiting job by removing it', async () => {
      const { worker, client } = pair({ maxConcurrentTasks: 1 });
      worker.define('block', (ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
      const first = await client.submit('block');
      const second = await client.submit('block');
      await until(client, () => first.status === 'running');
      await expect(second.cancel()).resolves.toBe(true);
      expect(second.status).toBe('cancelled');
      await client.cancelTask(first.id);
      await expect(first.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('runs higher priorities first', async () => {
      const { worker, client } = pair({ maxConcurrentTasks: 1 });
      const order: string[] = [];
      const tasks = [];
      for (const [label, priority] of [['low', -5], ['normal', 0], ['high', 10]] as const) {
        tasks.push(await client.submit('record', { args: [label], priority }));
      }
      worker.define('record', async (label: string) => void order.push(label));
      await Promise.all(tasks.map((task) => task.wait()));
      expect(order).toEqual(['high', 'normal', 'low']);
    });
  });

  describe('when the work cannot cross processes', () => {
    it('refuses submit(fn) and submitAgent with a TypeError that says to define() and submit by name', async () => {
      const { client } = pair();
      await expect(client.submit(async () => 1)).rejects.toThrow(/define\(\) a handler.*submit it by name/);
      await expect(client.submitAgent({ start: async () => 'x' }, 'hi')).rejects.toBeInstanceOf(TypeError);
    });

    it('refuses arguments that are not JSON data at submit', async () => {
      const { client } = pair();
      await expect(client.submit('x', { args: [() => 1] })).rejects.toThrow(/args\[0\]/);
    });
  });
});
