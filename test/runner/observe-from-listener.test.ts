// Issue #12.6 on the rewritten driver: the 'transition' event and task observers run before
// 'started'/'retrying', so reading `task.actor` from any of them must not leave a task undriven.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskStatus } from '../../src/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('observing a task from user code that runs before its effects', () => {
  describe('when a transition listener reads task.actor as the task enters running', () => {
    it('still calls the work, and the task completes', async () => {
      const runner = new BackgroundRunner();
      runner.on('transition', ({ task, to }) => {
        if (to === 'running') void task.actor;
      });
      const work = vi.fn(async () => 'done');
      const task = await runner.submit(work);
      await expect(task.wait()).resolves.toBe('done');
      expect(work).toHaveBeenCalledTimes(1);
      await runner.stop();
    });

    it('still arms the timeout', async () => {
      vi.useFakeTimers({ now: 0 });
      const runner = new BackgroundRunner();
      runner.on('transition', ({ task, to }) => {
        if (to === 'running') void task.actor;
      });
      const task = await runner.submit(() => new Promise(() => undefined), { timeout: 100 });
      const outcome = task.wait().catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(100);
      expect(await outcome).toMatchObject({ name: 'TaskTimeoutError' });
      await runner.stop();
    });
  });

  describe('when a transition listener reads task.actor as the task enters retrying', () => {
    it('still runs the retry', async () => {
      vi.useFakeTimers({ now: 0 });
      const runner = new BackgroundRunner();
      runner.on('transition', ({ task, to }) => {
        if (to === 'retrying') void task.actor;
      });
      let calls = 0;
      const task = await runner.submit(
        async () => {
          calls += 1;
          if (calls === 1) throw new Error('first attempt fails');
          return calls;
        },
        { retries: 1, backoff: 50 },
      );
      await vi.advanceTimersByTimeAsync(50);
      await expect(task.wait()).resolves.toBe(2);
      await runner.stop();
    });
  });

  describe('when a task observer reads task.actor as the task enters running', () => {
    it('still calls the work, and the task completes', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const blocker = await runner.submit(() => new Promise((resolve) => setTimeout(resolve, 10)));
      const work = vi.fn(async () => 'done');
      const task = await runner.submit(work);
      const seen: TaskStatus[] = [];
      task.subscribe((snapshot) => {
        seen.push(snapshot.value as TaskStatus);
        if (snapshot.value === 'running') void task.actor;
      });
      await blocker.wait();
      await expect(task.wait()).resolves.toBe('done');
      expect(work).toHaveBeenCalledTimes(1);
      expect(seen).toContain('completed');
      await runner.stop();
    });
  });
});
