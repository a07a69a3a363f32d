import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TransitionEvent } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

type Step = Omit<TransitionEvent, 'task'> & { id: string; status: string };

/** Records every transition as plain data, with the task's status read inside the listener. */
function record(runner: BackgroundRunner): Step[] {
  const steps: Step[] = [];
  runner.on('transition', ({ task, from, to, event, at, attempt }) => {
    steps.push({ id: task.id, status: task.status, from, to, event, at, attempt });
  });
  return steps;
}

const path = (steps: Step[]) => steps.map(({ from, to, event, attempt }) => `${from ?? '∅'}→${to}:${event}#${attempt}`);

describe("runner.on('transition')", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('when a task completes', () => {
    it('emits submit, start and done in order, each after the status is stored', async () => {
      const runner = new BackgroundRunner();
      const steps = record(runner);
      const task = await runner.submit(sleepWork(50, 'ok'));
      await vi.advanceTimersByTimeAsync(50);
      expect(task.status).toBe('completed');
      expect(path(steps)).toEqual(['∅→pending:submit#1', 'pending→running:start#1', 'running→completed:done#1']);
      for (const step of steps) expect(step.status).toBe(step.to);
      expect(steps.map((s) => s.at)).toEqual([1_000, 1_000, 1_050]);
      expect(new Set(steps.map((s) => s.id))).toEqual(new Set([task.id]));
    });

    it('comes before the event named after the state', async () => {
      const runner = new BackgroundRunner();
      const order: string[] = [];
      runner.on('transition', ({ to }) => order.push(`transition:${to}`));
      runner.on('submitted', () => order.push('submitted'));
      runner.on('started', () => order.push('started'));
      runner.on('completed', () => order.push('completed'));
      const task = await runner.submit(async () => 'ok');
      await task.wait();
      expect(order).toEqual(['transition:pending', 'submitted', 'transition:running', 'started', 'transition:completed', 'completed']);
    });
  });

  describe('when attempts fail and are retried', () => {
    it('names the timeout and the error, and counts attempts from 1', async () => {
      const runner = new BackgroundRunner();
      const steps = record(runner);
      let calls = 0;
      const task = await runner.submit(
        async (context: { signal: AbortSignal }) => {
          calls += 1;
          if (calls === 1) return sleepWork(10_000, 'late')(context as never);
          if (calls === 2) throw new Error('boom');
          return 'ok';
        },
        { retries: 2, timeout: 100, backoff: 1_000 },
      );
      await vi.advanceTimersByTimeAsync(5_000);
      expect(task.status).toBe('completed');
      expect(path(steps)).toEqual([
        '∅→pending:submit#1',
        'pending→running:start#1',
        'running→retrying:timeout#1',
        'retrying→running:retry#2',
        'running→retrying:error#2',
        'retrying→running:retry#3',
        'running→completed:done#3',
      ]);
      expect(steps.map((s) => s.at)).toEqual([1_000, 1_000, 1_100, 2_100, 2_100, 3_100, 3_100]);
    });
  });

  describe('when a task is cancelled', () => {
    it('emits cancel from pending and from running', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const steps = record(runner);
      const gate = deferred();
      const first = await runner.submit(() => gate.promise);
      const second = await runner.submit(() => gate.promise);
      await vi.advanceTimersByTimeAsync(0);
      await second.cancel();
      await first.cancel();
      const of = (task: BackgroundTask) => path(steps.filter((s) => s.id === task.id));
      expect(of(second)).toEqual(['∅→pending:submit#1', 'pending→cancelled:cancel#1']);
      expect(of(first)).toEqual(['∅→pending:submit#1', 'pending→running:start#1', 'running→cancelled:cancel#1']);
    });
  });

  describe('when the task has an actor', () => {
    it('emits the same transitions as a task without one, and reads the same cause from the chart', async () => {
      const run = async (observe: boolean) => {
        const runner = new BackgroundRunner();
        const steps = record(runner);
        let calls = 0;
        const task = await runner.submit(
          async (context: { signal: AbortSignal }) => {
            calls += 1;
            if (calls === 1) return sleepWork(10_000, 'late')(context as never);
            throw new Error(`boom ${calls}`);
          },
          { retries: 2, timeout: 100 },
        );
        if (observe) void task.actor;
        await vi.advanceTimersByTimeAsync(5_000);
        expect(task.status).toBe('failed');
        return steps.map(({ from, to, event, at, attempt }) => ({ from, to, event, at, attempt }));
      };
      const plain = await run(false);
      vi.setSystemTime(1_000);
      const observed = await run(true);
      expect(observed).toEqual(plain);
      expect(plain.map((s) => s.event)).toEqual(['submit', 'start', 'timeout', 'retry', 'error', 'retry', 'error']);
    });
  });

  describe('when nobody listens', () => {
    it('gives no task an actor, listening or not', async () => {
      const runner = new BackgroundRunner();
      runner.on('transition', () => undefined);
      const task = await runner.submit(async () => 'ok');
      await task.wait();
      // Internal: the handle holds an actor only once someone looked at `task.actor`.
      expect((task as unknown as { _actor: unknown })._actor).toBeUndefined();
    });
  });

  describe('when a listener calls back into the runner', () => {
    it('keeps every task to one final state', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
      const finals = new Map<string, number>();
      runner.on('transition', ({ task, to }) => {
        if (to === 'running' && task.metadata.cancelOnStart) void task.cancel('from a listener');
        if (to === 'completed' || to === 'failed' || to === 'cancelled' || to === 'lost') {
          finals.set(task.id, (finals.get(task.id) ?? 0) + 1);
        }
      });
      const tasks = await Promise.all(
        Array.from({ length: 6 }, (_, i) => runner.submit(async () => i, { metadata: { cancelOnStart: i % 2 === 0 } })),
      );
      await runner.onIdle();
      expect(tasks.map((t) => t.status)).toEqual(['cancelled', 'completed', 'cancelled', 'completed', 'cancelled', 'completed']);
      expect([...finals.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    });
  });
});

describe("runner.on('transition') with a store", () => {
  it('announces what recover() takes over with event restore: pending for re-queued tasks, the final state for the rest', async () => {
    const { sqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
    const { leaveBehind, record: row, tempDb } = await import('../helpers/store.js');
    const db = tempDb();
    try {
      leaveBehind(db.path, [
        row({ id: 'again', status: 'running', attempt: 1, startedAt: 1_100 }),
        row({ id: 'gone', handler: null, status: 'running', attempt: 1, startedAt: 1_100 }),
        row({ id: 'done', status: 'completed', attempt: 1, startedAt: 1_100, completedAt: 1_200, result: 7 }),
      ]);
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
      runner.define('work', () => 'ok');
      const steps = record(runner);
      await runner.recover();
      await runner.onIdle();
      const of = (id: string) => path(steps.filter((s) => s.id === id));
      expect(of('again')).toEqual(['∅→pending:restore#1', 'pending→running:start#2', 'running→completed:done#2']);
      expect(of('gone')).toEqual(['∅→lost:restore#1']);
      expect(of('done')).toEqual(['∅→completed:restore#1']);
      for (const step of steps) expect(step.status).toBe(step.to);
      await runner.stop();
    } finally {
      db.cleanup();
    }
  });
});
