import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskCancelledError, TaskTimeoutError } from '../../src/index.js';
import type { TaskContext, TaskSnapshot, TaskStatus } from '../../src/index.js';
import { bullmqBackend } from '../../src/backends/bullmq/bullmq-backend.js';
import { createServer, Socket as NetSocket } from 'node:net';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
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

    it('gives a remote task a real task actor that follows the job (the same chart, another execute)', async () => {
      const { worker, client } = pair();
      let release: (() => void) | undefined;
      worker.define('gated', () => new Promise<string>((resolve) => (release = () => resolve('done'))));
      const task = await client.submit('gated');
      const actor = task.actor; // observed from now on: the runner steps the actor, not the record
      const seen: string[] = [];
      actor.subscribe((snapshot) => seen.push(snapshot.value));
      await until(client, () => task.status === 'running');
      // The client may hear the job went active before the worker has called the handler.
      await vi.waitFor(() => expect(release).toBeDefined());
      release!();
      await expect(task.wait()).resolves.toBe('done');
      expect(actor.getSnapshot().value).toBe('completed');
      expect(seen.at(-1)).toBe('completed');
    });

    it('misses no event of a job that finishes right after a fresh client submits it (bullmq#2874)', async () => {
      const { worker, backend } = pair();
      worker.define('instant', async () => 'at once');
      const tasks = [];
      for (let i = 0; i < 10; i += 1) {
        const fresh = new BackgroundRunner({ backend });
        runners.push(fresh);
        tasks.push(await fresh.submit('instant'));
      }
      await expect(Promise.all(tasks.map((task) => task.wait()))).resolves.toEqual(Array(10).fill('at once'));
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
      worker.define(
        'slow',
        (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject((aborted = ctx.signal.reason)))),
      );
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
      for (const [label, priority] of [
        ['low', -5],
        ['normal', 0],
        ['high', 10],
      ] as const) {
        tasks.push(await client.submit('record', { args: [label], priority }));
      }
      worker.define('record', async (label: string) => void order.push(label));
      await Promise.all(tasks.map((task) => task.wait()));
      expect(order).toEqual(['high', 'normal', 'low']);
    });
  });

  describe('when several processes share the work', () => {
    it('cancels a running job from a runner that does not hold the task', async () => {
      const { worker, client, backend } = pair();
      worker.define(
        'forever',
        (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      );
      const task = await client.submit('forever');
      await until(client, () => task.status === 'running');
      const bystander = new BackgroundRunner({ backend });
      runners.push(bystander);
      await expect(bystander.cancelTask(task.id, 'from elsewhere')).resolves.toBe(true);
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      await expect(bystander.cancelTask('no-such-task')).resolves.toBe(false);
    });

    it('holds globalConcurrency across worker runners', async () => {
      count += 1;
      const backend = bullmqBackend({ connection: redis.connection, prefix: `t${count}`, globalConcurrency: 1 });
      const workers = [new BackgroundRunner({ backend, maxConcurrentTasks: 3 }), new BackgroundRunner({ backend, maxConcurrentTasks: 3 })];
      const client = new BackgroundRunner({ backend });
      runners.push(...workers, client);
      let running = 0;
      let most = 0;
      for (const worker of workers) {
        worker.define('one-at-a-time', async () => {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 10));
          running -= 1;
        });
      }
      const tasks = await Promise.all(Array.from({ length: 8 }, () => client.submit('one-at-a-time')));
      await Promise.all(tasks.map((task) => task.wait()));
      expect(most).toBe(1);
    });

    it('holds the rateLimit across worker runners', async () => {
      count += 1;
      const backend = bullmqBackend({ connection: redis.connection, prefix: `t${count}` });
      const rateLimit = { max: 2, interval: 300 };
      const workers = [new BackgroundRunner({ backend, rateLimit }), new BackgroundRunner({ backend, rateLimit })];
      const client = new BackgroundRunner({ backend });
      runners.push(...workers, client);
      const starts: number[] = [];
      for (const worker of workers) worker.define('limited', async () => void starts.push(Date.now()));
      const tasks = await Promise.all(Array.from({ length: 6 }, () => client.submit('limited')));
      await Promise.all(tasks.map((task) => task.wait()));
      starts.sort((a, b) => a - b);
      // Any 3 consecutive starts span at least one window: a slow machine only spreads them more.
      for (let i = 2; i < starts.length; i += 1) expect(starts[i]! - starts[i - 2]!).toBeGreaterThanOrEqual(rateLimit.interval - 20);
    });
  });

  describe('when Redis cannot be reached', () => {
    it('rejects submit() and holds no task, then works once Redis answers', async () => {
      const proxy = await startProxy(redis.port);
      try {
        proxy.down();
        count += 1;
        const connection = { host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: null, retryStrategy: () => 20 };
        const backend = bullmqBackend({ connection, prefix: `t${count}`, connectTimeout: 300 });
        const client = new BackgroundRunner({ backend });
        const worker = new BackgroundRunner({ backend: bullmqBackend({ connection: redis.connection, prefix: `t${count}` }) });
        runners.push(client, worker);
        client.on('error', () => undefined); // connection failures are reported; this test expects them
        await expect(client.submit('echo', { args: [1] })).rejects.toThrow(/Could not reach Redis within 300 ms/);
        expect(client.tasks).toEqual([]);
        proxy.up();
        worker.define('echo', async (value: number) => value);
        const task = await client.submit('echo', { args: [2] });
        await expect(task.wait()).resolves.toBe(2);
      } finally {
        proxy.close();
      }
    });
  });

  describe('when a client stops', () => {
    it('with drain, waits for the tasks it submitted to finish elsewhere', async () => {
      const { worker, client } = pair();
      worker.define('short', async (ctx: TaskContext) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return ctx.taskId;
      });
      const task = await client.submit('short');
      await client.stop({ drain: true });
      expect(task.status).toBe('completed');
      expect(task.result).toBe(task.id);
    });

    it('without drain, stops watching: the mirror ends cancelled, the job still runs', async () => {
      const { worker, client } = pair();
      let release!: () => void;
      const finished = new Promise<string>((resolve) => {
        worker.define('keeps-going', () => new Promise<void>((r) => (release = r)).then(() => resolve('ran to the end')));
      });
      const task = await client.submit('keeps-going');
      await until(client, () => task.status === 'running');
      await client.stop();
      expect(task.status).toBe('cancelled');
      release();
      await expect(finished).resolves.toBe('ran to the end');
      await expect(client.submit('keeps-going')).rejects.toThrow(/stop/);
    });
  });

  describe('when the client loses its connection', () => {
    it('reads the outcome it missed from the job once it reconnects', async () => {
      const proxy = await startProxy(redis.port);
      try {
        count += 1;
        const prefix = `t${count}`;
        const worker = new BackgroundRunner({ backend: bullmqBackend({ connection: redis.connection, prefix }) });
        const client = new BackgroundRunner({
          backend: bullmqBackend({ connection: { host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: null }, prefix }),
        });
        client.on('error', () => undefined); // connection resets are reported; this test expects them
        runners.push(worker, client);
        let release!: () => void;
        worker.define('gated', () => new Promise<string>((resolve) => (release = () => resolve('finished while away'))));
        const task = await client.submit<string>('gated');
        await until(client, () => task.status === 'running');
        proxy.down();
        release();
        // The outcome's event is gone from the stream: only the job itself still says it.
        const admin = new Redis(redis.connection);
        await expect.poll(() => admin.hget(`${prefix}:gated:${task.id}`, 'finishedOn')).not.toBeNull();
        await admin.xtrim(`${prefix}:gated:events`, 'MAXLEN', 0);
        await admin.quit();
        proxy.up();
        await expect(task.wait()).resolves.toBe('finished while away');
      } finally {
        proxy.close();
      }
    });
  });

  describe('when the work cannot cross processes', () => {
    it('refuses submit(fn) and submitAgent with a TypeError that says to define() and submit by name', async () => {
      const { client } = pair();
      await expect(client.submit(async () => 1)).rejects.toThrow(/define\(\) a handler.*submit it by name/);
      await expect(client.submitAgent({ start: async () => 'x' }, 'hi')).rejects.toBeInstanceOf(TypeError);
    });

    it('refuses a task name with `:` and bad backend options, naming the option', async () => {
      const { client, worker } = pair();
      await expect(client.submit('a:b')).rejects.toThrow(/without `:`/);
      expect(() => worker.define('a:b', async () => 1)).toThrow(/without `:`/);
      expect(worker.handlers).toEqual([]);
      expect(() => bullmqBackend({ connection: undefined as never })).toThrow(/Expected `connection`/);
      expect(() => bullmqBackend({ connection: redis.connection, globalConcurrency: 0 })).toThrow(
        'Expected `globalConcurrency` to be a positive integer, got `0` (number)',
      );
      expect(() => new BackgroundRunner({ backend: {} as never })).toThrow(/Expected `backend`/);
    });

    it('refuses arguments that are not JSON data at submit', async () => {
      const { client } = pair();
      await expect(client.submit('x', { args: [() => 1] })).rejects.toThrow(/args\[0\]/);
    });
  });
});

/** A TCP proxy to Redis that can drop every connection (`down`) and let them back (`up`). */
async function startProxy(target: number): Promise<{ port: number; down(): void; up(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let isDown = false;
  const server = createServer((inbound) => {
    if (isDown) return inbound.destroy();
    const outbound = new NetSocket();
    outbound.connect(target, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    down: () => {
      isDown = true;
      for (const socket of sockets) socket.destroy();
    },
    up: () => {
      isDown = false;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
