import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { historyOf } from '../../src/machines/task-chart.js';
import type { TaskStep } from '../../src/machines/task-chart.js';
import { BackgroundRunner, NonRetryableError } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';

/** What one attempt of a task does: finish, throw, throw a NonRetryableError, or hang until its timeout. */
type Outcome = 'succeed' | 'throw' | 'fatal' | 'hang';

interface Script {
  readonly outcomes: readonly Outcome[];
  readonly retries: number;
  readonly retryOnTimeout: boolean;
  /** When to cancel the task (ms after the start), if at all. */
  readonly cancelAt: number | undefined;
}

const script: fc.Arbitrary<Script> = fc.record({
  outcomes: fc.array(fc.constantFrom<Outcome>('succeed', 'throw', 'fatal', 'hang'), { minLength: 1, maxLength: 4 }),
  retries: fc.integer({ min: 0, max: 3 }),
  retryOnTimeout: fc.boolean(),
  cancelAt: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
});

function work(outcomes: readonly Outcome[]) {
  let attempt = 0;
  return (ctx: TaskContext) =>
    new Promise<string>((resolve, reject) => {
      const outcome = outcomes[attempt++] ?? 'succeed';
      if (outcome === 'hang') return; // ended by its timeout (or a cancel)
      setTimeout(() => {
        if (ctx.signal.aborted) return;
        if (outcome === 'succeed') resolve('ok');
        else reject(outcome === 'fatal' ? new NonRetryableError('fatal') : new Error('boom'));
      }, 20);
    });
}

describe('historyOf (the dashboard rebuilds old log entries from it, #14)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const inspected of [false, true]) {
    it(`equals the 'transition' events a task went through, for any mix of failures, timeouts, retries and cancels${inspected ? ' (inspected)' : ''}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(script, { minLength: 1, maxLength: 6 }), async (scripts) => {
          const runner = new BackgroundRunner({ maxConcurrentTasks: 2, inspect: inspected ? () => {} : undefined });
          const seen = new Map<BackgroundTask, TaskStep[]>();
          runner.on('transition', ({ task, from, to, event, at, attempt }) => {
            const steps = seen.get(task) ?? [];
            steps.push({ from, to, event, at, attempt });
            seen.set(task, steps);
          });
          const tasks: BackgroundTask[] = [];
          for (const s of scripts) {
            const task = await runner.submit(work(s.outcomes), {
              retries: s.retries,
              retryOnTimeout: s.retryOnTimeout,
              timeout: 100,
              backoff: { type: 'fixed', delay: 30 },
            });
            if (s.cancelAt !== undefined) setTimeout(() => void task.cancel(), s.cancelAt);
            tasks.push(task);
          }
          await vi.advanceTimersByTimeAsync(10_000);
          for (const task of tasks) {
            expect(task.isCompleted).toBe(true);
            const internal = task as unknown as { _status: BackgroundTask['status']; _context: Parameters<typeof historyOf>[1] };
            expect(historyOf(internal._status, internal._context)).toEqual(seen.get(task));
          }
          await runner.stop();
        }),
        { numRuns: 60 },
      );
    });
  }

  it('covers a task that is still running or waiting to retry', async () => {
    const runner = new BackgroundRunner();
    const steps: TaskStep[] = [];
    runner.on('transition', ({ from, to, event, at, attempt }) => steps.push({ from, to, event, at, attempt }));
    const task = await runner.submit(work(['throw', 'hang']), { retries: 1, timeout: 100, backoff: { type: 'fixed', delay: 50 } });
    const internal = task as unknown as { _status: BackgroundTask['status']; _context: Parameters<typeof historyOf>[1] };
    await vi.advanceTimersByTimeAsync(30);
    expect(task.status).toBe('retrying');
    expect(historyOf(internal._status, internal._context)).toEqual(steps);
    await vi.advanceTimersByTimeAsync(60);
    expect(task.status).toBe('running');
    expect(historyOf(internal._status, internal._context)).toEqual(steps);
    expect(steps.map((s) => s.event)).toEqual(['submit', 'start', 'error', 'retry']);
    await runner.stop();
  });
});
