import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskTimeoutError, backoffDelay } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { sleepWork } from '../helpers/tasks.js';

/** Work that fails `failures` times, then returns 'ok'; records the time of each call. */
function flaky(failures: number, calls: number[]) {
  return async () => {
    calls.push(Date.now());
    if (calls.length <= failures) throw new Error(`failure ${calls.length}`);
    return 'ok';
  };
}

describe('retries', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a failed attempt again after a fixed backoff, and succeeds', async () => {
    const runner = new BackgroundRunner();
    const calls: number[] = [];
    const task = await runner.submit(flaky(2, calls), { retries: 3, backoff: 1_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(task.status).toBe('retrying');
    expect(task.isRetrying).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toEqual([0, 1_000, 2_000]);
    expect(task.status).toBe('completed');
    expect(task.attempt).toBe(3);
    expect(task.attempts.map((a) => a.error.message)).toEqual(['failure 1', 'failure 2']);
    expect(task.error).toBeUndefined();
  });

  it('follows an exponential schedule capped at maxDelay', async () => {
    const runner = new BackgroundRunner();
    const calls: number[] = [];
    const task = await runner.submit(flaky(5, calls), {
      retries: 5,
      backoff: { type: 'exponential', delay: 100, maxDelay: 500 },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    // waits: 100, 200, 400, 500 (capped), 500
    expect(calls).toEqual([0, 100, 300, 700, 1_200, 1_700]);
    expect(task.status).toBe('completed');
  });

  it('spreads jittered delays deterministically within [delay × (1 − jitter), delay]', () => {
    const delays = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => backoffDelay({ type: 'fixed', delay: 1_000, jitter: 0.5 }, 1, id));
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(1_000);
    }
    expect(new Set(delays).size).toBeGreaterThan(1);
    expect(backoffDelay({ type: 'fixed', delay: 1_000, jitter: 0.5 }, 1, 'a')).toBe(delays[0]);
  });

  it('fails after the last attempt with the last error, emitting retrying before each retry', async () => {
    const runner = new BackgroundRunner();
    const retrying: string[] = [];
    runner.on('retrying', ({ attempt, delayMs, error }) => retrying.push(`${attempt}:${delayMs}:${error.message}`));
    const calls: number[] = [];
    const task = await runner.submit(flaky(10, calls), { retries: 2, backoff: 10 });
    await vi.advanceTimersByTimeAsync(100);
    expect(task.status).toBe('failed');
    expect(task.error?.message).toBe('failure 3');
    expect(retrying).toEqual(['1:10:failure 1', '2:10:failure 2']);
    await expect(task.wait()).rejects.toThrow('failure 3');
  });

  it('fails at once on NonRetryableError', async () => {
    const runner = new BackgroundRunner();
    const work = vi.fn(async () => {
      throw new NonRetryableError('API key rejected');
    });
    const task = await runner.submit(work, { retries: 5, backoff: 10 });
    await vi.advanceTimersByTimeAsync(100);
    expect(work).toHaveBeenCalledTimes(1);
    expect(task.status).toBe('failed');
    expect(task.error).toBeInstanceOf(NonRetryableError);
  });

  it('retries timeouts, each attempt with its own timeout and signal', async () => {
    const runner = new BackgroundRunner();
    const signals: AbortSignal[] = [];
    const task = await runner.submit(
      (ctx: TaskContext) => {
        signals.push(ctx.signal);
        return signals.length < 2 ? sleepWork(1_000, 'slow')(ctx) : 'fast';
      },
      { retries: 1, timeout: 100, backoff: 50 },
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(task.status).toBe('retrying');
    expect(signals[0]?.reason).toBeInstanceOf(TaskTimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    expect(task.status).toBe('completed');
    expect(signals[1]?.aborted).toBe(false);
  });

  it('does not retry a timeout with retryOnTimeout: false', async () => {
    const runner = new BackgroundRunner();
    const work = vi.fn(sleepWork(1_000, 'slow'));
    const task = await runner.submit(work, { retries: 3, timeout: 100, retryOnTimeout: false });
    await vi.advanceTimersByTimeAsync(100);
    expect(task.status).toBe('failed');
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('cancels during retrying, and never runs again', async () => {
    const runner = new BackgroundRunner();
    const calls: number[] = [];
    const onComplete = vi.fn();
    const task = await runner.submit(flaky(5, calls), { retries: 5, backoff: 1_000, onComplete });
    await vi.advanceTimersByTimeAsync(10);
    expect(task.status).toBe('retrying');
    await expect(task.cancel()).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(1);
    expect(task.status).toBe('cancelled');
    expect(onComplete).toHaveBeenCalledTimes(1);
  });

  it('keeps the slot during the backoff, so a waiting task does not jump in', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    const calls: number[] = [];
    const first = await runner.submit(flaky(1, calls), { retries: 1, backoff: 100 });
    const second = await runner.submit(() => 'second');
    await vi.advanceTimersByTimeAsync(50);
    expect(first.status).toBe('retrying');
    expect(second.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(50);
    await expect(second.wait()).resolves.toBe('second');
    expect(first.status).toBe('completed');
  });

  it('gives an observed task the same retries through its actor', async () => {
    const runner = new BackgroundRunner();
    const calls: number[] = [];
    const task = await runner.submit(flaky(1, calls), { retries: 1, backoff: 100 });
    const seen: string[] = [];
    task.subscribe((snapshot) => seen.push(`${snapshot.value}:${snapshot.context.attempt}`));
    await vi.advanceTimersByTimeAsync(200);
    expect(seen).toEqual(['retrying:1', 'running:2', 'completed:2']);
    expect(calls).toEqual([0, 100]);
  });

  it('rejects bad retry options with a clear error', async () => {
    const runner = new BackgroundRunner();
    await expect(runner.submit(() => 1, { retries: -1 })).rejects.toThrow(
      'Expected `retries` to be a non-negative integer, got `-1` (number)',
    );
    await expect(runner.submit(() => 1, { backoff: { type: 'linear' as never, delay: 1 } })).rejects.toThrow(
      "`backoff.type` to be 'fixed' or 'exponential'",
    );
    await expect(runner.submit(() => 1, { backoff: { type: 'fixed', delay: 1, jitter: 2 } })).rejects.toThrow(RangeError);
  });
});
