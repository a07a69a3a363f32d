import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, TaskTimeoutError } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { sleepWork } from '../helpers/tasks.js';

describe('timeouts', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fails the task with TaskTimeoutError exactly `timeout` ms after it started, aborting its signal', async () => {
    const runner = new BackgroundRunner();
    let signal!: AbortSignal;
    const task = await runner.submit(
      (ctx: TaskContext) => {
        signal = ctx.signal;
        return sleepWork(10_000, 'x')(ctx);
      },
      { timeout: 1_000 },
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(task.status).toBe('running');
    await vi.advanceTimersByTimeAsync(1);
    expect(task.status).toBe('failed');
    expect(task.error).toBeInstanceOf(TaskTimeoutError);
    expect(task.error).toMatchObject({ taskId: task.id, timeoutMs: 1_000 });
    expect(signal.reason).toBe(task.error);
    await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
  });

  it('counts the timeout from the start, not from the submit', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    await runner.submit(sleepWork(500, 'first'));
    const second = await runner.submit(sleepWork(400, 'second'), { timeout: 450 });
    await vi.advanceTimersByTimeAsync(900);
    expect(second.status).toBe('completed');
  });

  it('applies defaultTimeout to tasks without their own, and their own wins', async () => {
    const runner = new BackgroundRunner({ defaultTimeout: 100 });
    const defaulted = await runner.submit(sleepWork(200, 1));
    const own = await runner.submit(sleepWork(200, 2), { timeout: 300 });
    const none = await runner.submit(sleepWork(200, 3), { timeout: undefined });
    await vi.advanceTimersByTimeAsync(200);
    expect(defaulted.status).toBe('failed');
    expect(own.status).toBe('completed');
    expect(none.status).toBe('completed');
  });

  it('frees the slot of a timed-out task for the next pending one', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    await runner.submit(() => new Promise(() => undefined), { timeout: 50 });
    const next = await runner.submit(() => 'next');
    await vi.advanceTimersByTimeAsync(50);
    await expect(next.wait()).resolves.toBe('next');
  });

  it('creates no timer for a task without a timeout', async () => {
    const runner = new BackgroundRunner({ autoCleanup: false });
    await runner.submit(() => new Promise(() => undefined));
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([
    ['a plain runner', {}],
    ['an inspected runner (every task an actor)', { inspect: () => {} }],
  ])("disarms a failed attempt's timeout, so it cannot cut the next attempt short, on %s", async (_label, options) => {
    const runner = new BackgroundRunner({ autoCleanup: false, ...options });
    const attempts: number[] = [];
    // Attempt 1 fails at 60 ms; attempt 2 starts right after and needs 80 ms, well within its
    // own 100 ms but past attempt 1's timeout (at 100 ms), which must no longer be armed.
    const task = await runner.submit(
      async (ctx: TaskContext) => {
        attempts.push(ctx.attempt);
        await sleepWork(ctx.attempt === 1 ? 60 : 80, undefined)(ctx);
        if (ctx.attempt === 1) throw new Error('flaky');
        return 'second';
      },
      { timeout: 100, retries: 1 },
    );
    // Past attempt 1's timeout (100 ms), short of attempt 2's end (~141 ms).
    await vi.advanceTimersByTimeAsync(120);
    expect(task.status).toBe('running');
    await vi.advanceTimersByTimeAsync(30);
    expect(task.status).toBe('completed');
    await expect(task.wait()).resolves.toBe('second');
    expect(attempts).toEqual([1, 2]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets a result that lands at the same instant as the timeout win or lose, but never both', async () => {
    const runner = new BackgroundRunner();
    const onComplete = vi.fn();
    const task = await runner.submit(sleepWork(100, 'photo finish'), { timeout: 100, onComplete });
    await vi.advanceTimersByTimeAsync(200);
    expect(['completed', 'failed']).toContain(task.status);
    expect(onComplete).toHaveBeenCalledTimes(1);
  });
});
