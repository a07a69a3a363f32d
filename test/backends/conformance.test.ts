/**
 * One suite, two backends: the same scenarios run against the in-process runner and against the
 * BullMQ backend (a worker runner and a client runner on a real Redis), so the two cannot drift.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskCancelledError, TaskFailedError, TaskTimeoutError } from '../../src/index.js';
import type { BackgroundTask, TaskContext, TaskStatus } from '../../src/index.js';
import { bullmqBackend } from '../../src/backends/bullmq/bullmq-backend.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import type { RedisServer } from '../helpers/redis.js';

/** Where handlers are defined and where tasks are submitted: one runner in process, two over BullMQ. */
interface Setup {
  define(name: string, handler: (...args: any[]) => unknown): void; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly submitter: BackgroundRunner;
  stop(): Promise<void>;
}

let redis: RedisServer | undefined;
let prefixes = 0;

const backends: { name: string; available: boolean; create: (concurrency: number) => Setup }[] = [
  {
    name: 'in-process',
    available: true,
    create: (concurrency) => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: concurrency });
      return { define: (name, fn) => runner.define(name, fn), submitter: runner, stop: () => runner.stop() };
    },
  },
  {
    name: 'bullmq',
    available: hasRedis,
    create: (concurrency) => {
      prefixes += 1;
      const backend = bullmqBackend({ connection: redis!.connection, prefix: `c${prefixes}` });
      const worker = new BackgroundRunner({ backend, maxConcurrentTasks: concurrency });
      const client = new BackgroundRunner({ backend });
      return {
        define: (name, fn) => worker.define(name, fn),
        submitter: client,
        stop: async () => {
          await Promise.all([worker.stop(), client.stop()]);
        },
      };
    },
  },
];

/** Resolves once `task` is in `status` (re-checked on each snapshot). */
function reaches(task: BackgroundTask, status: TaskStatus): Promise<void> {
  if (task.status === status) return Promise.resolve();
  return new Promise((resolve) => {
    const subscription = task.subscribe((snapshot) => {
      if (snapshot.value === status) {
        resolve();
        queueMicrotask(() => subscription.unsubscribe());
      }
    });
  });
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each(backends)('conformance: $name', ({ name, available, create }) => {
  let setup: Setup | undefined;
  const open = (concurrency = 4): Setup => (setup = create(concurrency));

  beforeAll(async () => {
    if (name === 'bullmq' && available) redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
    redis = undefined;
  });
  afterEach(async () => {
    await setup?.stop();
    setup = undefined;
  });

  it.skipIf(!available)('completes with the handler’s result, onComplete called once, events in order', async () => {
    const { define, submitter } = open();
    define('add', async (a: number, b: number) => a + b);
    const events: string[] = [];
    for (const name of ['started', 'completed'] as const) submitter.on(name, () => events.push(name));
    let completions = 0;
    const task = await submitter.submit<number>('add', { args: [2, 3], onComplete: () => (completions += 1) });
    await expect(task.wait()).resolves.toBe(5);
    expect(task.status).toBe('completed');
    expect(task.progress).toBe(1);
    expect(completions).toBe(1);
    expect(events).toEqual(['started', 'completed']);
  });

  it.skipIf(!available)('retries a failing attempt with the retrying event, then completes', async () => {
    const { define, submitter } = open();
    define('flaky', async (ctx: TaskContext) => {
      if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
      return 'ok';
    });
    const retrying: number[] = [];
    submitter.on('retrying', ({ attempt }) => retrying.push(attempt));
    const task = await submitter.submit('flaky', { retries: 3, backoff: { type: 'exponential', delay: 5, maxDelay: 20, jitter: 0.5 } });
    await expect(task.wait()).resolves.toBe('ok');
    expect(retrying).toEqual([1, 2]);
    expect(task.attempt).toBe(3);
    expect(task.attempts.map((a) => a.error.message)).toEqual(['attempt 1 failed', 'attempt 2 failed']);
  });

  it.skipIf(!available)('fails after the last attempt with the handler’s error', async () => {
    const { define, submitter } = open();
    define('broken', async () => {
      throw new RangeError('always');
    });
    const task = await submitter.submit('broken', { retries: 1 });
    const error = (await task.wait().catch((e: unknown) => e)) as Error;
    expect(error.name).toBe('RangeError');
    expect(error.message).toBe('always');
    expect(task.status).toBe('failed');
    expect(task.attempts).toHaveLength(2);
  });

  it.skipIf(!available)('fails at once on NonRetryableError', async () => {
    const { define, submitter } = open();
    define('refuse', async () => {
      throw new NonRetryableError('no');
    });
    const task = await submitter.submit('refuse', { retries: 5 });
    await expect(task.wait()).rejects.toBeInstanceOf(NonRetryableError);
    expect(task.attempt).toBe(1);
  });

  it.skipIf(!available)('wraps a thrown non-Error in TaskFailedError', async () => {
    const { define, submitter } = open();
    define('throws-string', async () => {
      throw 'plain string'; // eslint-disable-line @typescript-eslint/only-throw-error
    });
    const task = await submitter.submit('throws-string');
    await expect(task.wait()).rejects.toBeInstanceOf(TaskFailedError);
  });

  it.skipIf(!available)('times out: aborts the signal with TaskTimeoutError and retries it', async () => {
    const { define, submitter } = open();
    const reasons: unknown[] = [];
    define(
      'stuck',
      (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(reasons.push(ctx.signal.reason)))),
    );
    const task = await submitter.submit('stuck', { timeout: 50, retries: 1 });
    await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
    expect(task.attempts).toHaveLength(2);
    await expect.poll(() => reasons.length).toBe(2);
    expect(reasons.every((reason) => reason instanceof TaskTimeoutError)).toBe(true);
  });

  it.skipIf(!available)('does not retry a timeout with retryOnTimeout: false', async () => {
    const { define, submitter } = open();
    define('stuck', () => new Promise(() => undefined));
    const task = await submitter.submit('stuck', { timeout: 50, retries: 3, retryOnTimeout: false });
    await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
    expect(task.attempt).toBe(1);
    expect(task.status).toBe('failed');
  });

  it.skipIf(!available)('cancels a running task: its signal aborts with TaskCancelledError', async () => {
    const { define, submitter } = open();
    const aborted = deferred<unknown>();
    define(
      'wait-for-abort',
      (ctx: TaskContext) =>
        new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(aborted.resolve(ctx.signal.reason)))),
    );
    const task = await submitter.submit('wait-for-abort', { retries: 2 });
    await reaches(task, 'running');
    await expect(submitter.cancelTask(task.id, 'changed my mind')).resolves.toBe(true);
    await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    expect(await aborted.promise).toBeInstanceOf(TaskCancelledError);
    expect(task.status).toBe('cancelled');
    expect(task.error?.message).toContain('changed my mind');
    await expect(submitter.cancelTask(task.id)).resolves.toBe(false);
  });

  it.skipIf(!available)('cancels a pending task before it starts', async () => {
    const { define, submitter } = open(1);
    const release = deferred();
    let runs = 0;
    define('gate', async () => {
      runs += 1;
      await release.promise;
    });
    const first = await submitter.submit('gate');
    await reaches(first, 'running');
    const second = await submitter.submit('gate');
    await expect(second.cancel()).resolves.toBe(true);
    await expect(second.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    release.resolve();
    await first.wait();
    expect(runs).toBe(1);
  });

  it.skipIf(!available)('starts higher priorities first', async () => {
    const { define, submitter } = open(1);
    const release = deferred();
    const order: string[] = [];
    define('ordered', async (label: string) => {
      if (label === 'blocker') await release.promise;
      else order.push(label);
    });
    const blocker = await submitter.submit('ordered', { args: ['blocker'] });
    await reaches(blocker, 'running');
    const tasks: BackgroundTask[] = [];
    for (const [label, priority] of [
      ['low', -1],
      ['normal', 0],
      ['high', 7],
    ] as const) {
      tasks.push(await submitter.submit('ordered', { args: [label], priority }));
    }
    release.resolve();
    await Promise.all(tasks.map((task) => task.wait()));
    expect(order).toEqual(['high', 'normal', 'low']);
  });

  it.skipIf(!available)('reports progress to onProgress and ends at 1', async () => {
    const { define, submitter } = open();
    define('report', async (ctx: TaskContext) => {
      ctx.reportProgress(0.25, 'a quarter');
      ctx.reportProgress(0.75, 'most');
      return 'done';
    });
    const messages: (string | undefined)[] = [];
    const task = await submitter.submit('report', { onProgress: (_progress, message) => messages.push(message) });
    await task.wait();
    expect(messages.at(-1)).toBe('most');
    expect(task.message).toBe('most');
    expect(task.progress).toBe(1);
  });

  it.skipIf(!available)('streams chunks in order and collects them as the result', async () => {
    const { define, submitter } = open();
    define('count', async function* (n: number) {
      for (let i = 1; i <= n; i += 1) yield i;
    });
    const chunks: unknown[] = [];
    const task = await submitter.submit('count', { args: [5], onChunk: (chunk) => chunks.push(chunk) });
    await expect(task.wait()).resolves.toEqual([1, 2, 3, 4, 5]);
    expect(chunks).toEqual([1, 2, 3, 4, 5]);
    expect(task.chunks).toBe(5);
  });

  it.skipIf(!available)('refuses arguments that are not JSON data', async () => {
    const { define, submitter } = open();
    define('x', async () => 1);
    await expect(submitter.submit('x', { args: [{ when: new Date() }] })).rejects.toThrow(TypeError);
  });
});
