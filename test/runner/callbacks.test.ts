import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

describe('callbacks and errors', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('calls onComplete exactly once for each final state', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    const calls: string[] = [];
    const onComplete = (task: BackgroundTask) => calls.push(`${task.name}:${task.status}`);
    const ok = await runner.submit(sleepWork(10, 1), { name: 'ok', onComplete });
    await runner.submit(
      async () => {
        throw new Error('bad');
      },
      { name: 'bad', onComplete },
    );
    await runner.submit(sleepWork(1_000, 1), { name: 'slow', timeout: 5, onComplete });
    const cancelled = await runner.submit(() => 1, { name: 'cancelled', onComplete });
    await cancelled.cancel();
    await cancelled.cancel();
    await vi.advanceTimersByTimeAsync(100);
    await ok.cancel();
    expect(calls.sort()).toEqual(['bad:failed', 'cancelled:cancelled', 'ok:completed', 'slow:failed']);
  });

  it('passes progress to onProgress with the message and the task', async () => {
    const runner = new BackgroundRunner();
    const onProgress = vi.fn();
    const task = await runner.submit(
      (ctx: TaskContext) => {
        ctx.reportProgress(0.25, 'a quarter');
        ctx.reportProgress(0.5);
        return 1;
      },
      { onProgress },
    );
    await task.wait();
    expect(onProgress.mock.calls).toEqual([
      [0.25, 'a quarter', task],
      [0.5, 'a quarter', task],
    ]);
  });

  it('reports a throwing onComplete, onProgress or listener on "error" and carries on', async () => {
    const runner = new BackgroundRunner();
    const errors: { source: string; message: string }[] = [];
    runner.on('error', ({ error, source }) => errors.push({ source, message: (error as Error).message }));
    runner.on('completed', () => {
      throw new Error('listener broke');
    });
    const second = vi.fn();
    runner.on('completed', second);
    const task = await runner.submit(
      (ctx: TaskContext) => {
        ctx.reportProgress(0.5);
        return 'fine';
      },
      {
        onComplete: () => {
          throw new Error('onComplete broke');
        },
        onProgress: () => {
          throw new Error('onProgress broke');
        },
      },
    );
    await expect(task.wait()).resolves.toBe('fine');
    expect(errors).toEqual([
      { source: 'onProgress', message: 'onProgress broke' },
      { source: 'onComplete', message: 'onComplete broke' },
      { source: 'listener', message: 'listener broke' },
    ]);
    expect(second).toHaveBeenCalledTimes(1);
    const next = await runner.submit(() => 2);
    await expect(next.wait()).resolves.toBe(2);
  });

  it('emits a process warning for a throwing callback when nobody listens to "error"', async () => {
    const runner = new BackgroundRunner();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const task = await runner.submit(() => 1, {
      onComplete: () => {
        throw new Error('nobody listens');
      },
    });
    await task.wait();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('nobody listens'), { code: 'TASKLANE_CALLBACK_ERROR' });
    warn.mockRestore();
  });

  it('causes no unhandled rejection when a failed task is never waited on', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const runner = new BackgroundRunner();
      await runner.submit(async () => {
        throw new Error('ignored');
      });
      await runner.submit(() => Promise.reject(new Error('also ignored')), { timeout: 5 });
      const gate = deferred();
      const cancelled = await runner.submit(() => gate.promise);
      await cancelled.cancel();
      gate.reject(new Error('rejected after cancel'));
      await runner.waitAll();
      vi.useRealTimers();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});
