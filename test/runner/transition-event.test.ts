import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, RunnerEvents, TaskContext } from '../../src/index.js';

type Transition = Parameters<RunnerEvents['transition']>[0];

/** Records every transition as a plain row, plus the task's status at the moment it was emitted. */
function record(runner: BackgroundRunner) {
  const rows: { id: string; from: string | null; to: string; event: string; at: number; attempt: number; seen: string }[] = [];
  runner.on('transition', ({ task, from, to, event, at, attempt }: Transition) => {
    rows.push({ id: task.id, from, to, event, at, attempt, seen: task.status });
  });
  return rows;
}

const path = (rows: ReturnType<typeof record>) => rows.map((r) => `${r.from ?? '∅'}→${r.to}:${r.event}#${r.attempt}`);

describe("runner 'transition' event", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('when a task runs to completion', () => {
    it('emits creation, start and done in order, with the new status already in place', async () => {
      const runner = new BackgroundRunner();
      const rows = record(runner);
      const task = await runner.submit(async () => 'ok');
      await runner.onIdle();
      expect(path(rows)).toEqual(['∅→pending:submit#1', 'pending→running:start#1', 'running→completed:done#1']);
      expect(rows.every((r) => r.id === task.id && r.seen === r.to)).toBe(true);
      expect(rows.map((r) => r.at)).toEqual([1_000, 1_000, 1_000]);
    });
  });

  describe('when attempts fail and are retried', () => {
    it('names the error, the retry and the attempt of each step', async () => {
      const runner = new BackgroundRunner();
      const rows = record(runner);
      let calls = 0;
      await runner.submit(
        async () => {
          calls += 1;
          if (calls === 1) throw new Error('boom');
          return 'ok';
        },
        { retries: 1, backoff: 500 },
      );
      await vi.advanceTimersByTimeAsync(1_000);
      expect(path(rows)).toEqual([
        '∅→pending:submit#1',
        'pending→running:start#1',
        'running→retrying:error#1',
        'retrying→running:retry#2',
        'running→completed:done#2',
      ]);
      expect(rows[3]!.at).toBe(1_500);
    });
  });

  describe('when an attempt times out', () => {
    it("names the cause 'timeout'", async () => {
      const runner = new BackgroundRunner();
      const rows = record(runner);
      await runner.submit((ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)), { timeout: 200 });
      await vi.advanceTimersByTimeAsync(200);
      expect(path(rows).at(-1)).toBe('running→failed:timeout#1');
      expect(rows.at(-1)!.at).toBe(1_200);
    });
  });

  describe('when a task is cancelled while pending', () => {
    it("goes pending → cancelled with the event 'cancel'", async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const rows = record(runner);
      const blocker = await runner.submit((ctx: TaskContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
      const waiting = await runner.submit(async () => 'never');
      await vi.advanceTimersByTimeAsync(0);
      await runner.cancelTask(waiting.id);
      await runner.cancelTask(blocker.id);
      expect(rows.filter((r) => r.id === waiting.id).map((r) => `${r.from ?? '∅'}→${r.to}:${r.event}`)).toEqual([
        '∅→pending:submit',
        'pending→cancelled:cancel',
      ]);
    });
  });

  describe('when the task has a real actor', () => {
    it('emits the same transitions as a compact task', async () => {
      const runner = new BackgroundRunner();
      const rows = record(runner);
      const task = await runner.submit(async () => 'ok');
      void task.actor; // someone looks: the task becomes an actor
      await runner.onIdle();
      expect(path(rows)).toEqual(['∅→pending:submit#1', 'pending→running:start#1', 'running→completed:done#1']);
    });
  });

  describe('when a listener calls back into the runner', () => {
    it('cancels a task as it starts, aborting its signal, and the runner still goes idle', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const rows = record(runner);
      let aborted = 0;
      runner.on('transition', ({ task, to }) => {
        if (to === 'running' && task.name === 'victim') void runner.cancelTask(task.id);
      });
      const victim = await runner.submit(
        (ctx: TaskContext) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener('abort', () => {
              aborted += 1;
              resolve(undefined);
            });
          }),
        { name: 'victim' },
      );
      const next = await runner.submit(async () => 'next');
      await runner.onIdle();
      expect(victim.status).toBe('cancelled');
      expect(next.status).toBe('completed');
      expect(runner.runningTasks).toEqual([]);
      expect(aborted).toBe(0); // cancelled before the work was called: nothing to abort
      expect(rows.filter((r) => r.id === victim.id).map((r) => r.to)).toEqual(['pending', 'running', 'cancelled']);
    });
  });

  describe('when nobody listens', () => {
    it('adds no listener and runs tasks as before', async () => {
      const runner = new BackgroundRunner();
      expect(runner.listenerCount('transition')).toBe(0);
      const tasks: BackgroundTask[] = [];
      for (let i = 0; i < 100; i += 1) tasks.push(await runner.submit(async () => i));
      await runner.onIdle();
      expect(tasks.every((t) => t.status === 'completed')).toBe(true);
    });
  });
});
