/**
 * Workers in real child processes, one of them killed with SIGKILL mid-task: its job stalls and
 * runs again on another worker (at-least-once), or ends `lost` once `maxStalledCount` is used up.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner, TaskLostError } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { bullmqBackend } from '../../src/backends/bullmq/bullmq-backend.js';
import { hasRedis, startRedis } from '../helpers/redis.js';
import type { RedisServer } from '../helpers/redis.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url));

let redis: RedisServer;
const children: ChildProcess[] = [];
const runners: BackgroundRunner[] = [];
let count = 0;

/** A worker process; resolves once it printed `ready`. `lines` collects what it prints. */
async function startWorker(prefix: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, REDIS_PORT: String(redis.port), PREFIX: prefix, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (data: Buffer) => {
      buffer += data.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line === 'ready') resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
  return { child, lines };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Resolves once `check()` is true, polling each `ms` (the child's output has no event to await). */
async function eventually(check: () => boolean, ms = 20): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, ms));
}

function client(prefix: string): BackgroundRunner {
  const runner = new BackgroundRunner({ backend: bullmqBackend({ connection: redis.connection, prefix }) });
  runners.push(runner);
  return runner;
}

// Child processes start slowly on a busy machine; these limits only catch a hang.
describe.skipIf(!hasRedis)('bullmqBackend across processes', { timeout: 90_000 }, () => {
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killed));
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  });

  it('runs a killed worker’s job again on another worker, the attempt counted', async () => {
    const prefix = `p${(count += 1)}`;
    const first = await startWorker(prefix);
    const submitter = client(prefix);
    const task = await submitter.submit<{ pid: number; attempt: number }>('hang');
    await eventually(() => first.lines.includes('started 1'));
    await killed(first.child);
    const second = await startWorker(prefix);
    const result = await task.wait();
    expect(result.pid).toBe(second.child.pid);
    expect(result.attempt).toBe(2);
    expect(second.lines).toContain('started 2');
    expect(task.status).toBe('completed');
  });

  it('ends the task lost once the job stalled more than maxStalledCount times', async () => {
    const prefix = `p${(count += 1)}`;
    const first = await startWorker(prefix, { MAX_STALLED: '0' });
    const submitter = client(prefix);
    const task = await submitter.submit('hang');
    await eventually(() => first.lines.includes('started 1'));
    await killed(first.child);
    await startWorker(prefix, { MAX_STALLED: '0' });
    const error = await task.wait().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskLostError);
    expect(task.status).toBe('lost');
  });

  it('hands a running job back on stop({ drain, timeout }) without using up an attempt', async () => {
    const prefix = `p${(count += 1)}`;
    const backend = bullmqBackend({ connection: redis.connection, prefix });
    const leaving = new BackgroundRunner({ backend, maxConcurrentTasks: 1 });
    let aborted = false;
    leaving.define(
      'hang',
      (ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((aborted = true)))),
    );
    const submitter = client(prefix);
    const task = await submitter.submit('hang', { retries: 0 });
    await eventually(() => task.status === 'running');
    await leaving.stop({ drain: true, timeout: 50 });
    expect(aborted).toBe(true);
    const staying = new BackgroundRunner({ backend, maxConcurrentTasks: 1 });
    runners.push(staying);
    staying.define('hang', async (ctx: TaskContext) => ctx.attempt);
    await expect(task.wait()).resolves.toBe(2);
    expect(task.attempts).toHaveLength(0);
    expect(task.status).toBe('completed');
  });
});
