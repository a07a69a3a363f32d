import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { deferred } from '../helpers/tasks.js';
import type { Deferred } from '../helpers/tasks.js';

type Op =
  | { kind: 'submit'; timeout: number | undefined; observe: boolean; throwingCallback: boolean }
  | { kind: 'cancel'; index: number }
  | { kind: 'complete'; index: number }
  | { kind: 'fail'; index: number }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      timeout: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      observe: fc.boolean(),
      throwingCallback: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), index: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('complete' as const), index: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fail' as const), index: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 40 }) }) },
);

describe('BackgroundRunner invariants (fast-check)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ['', false],
    [', and with a store records that same final state for each', true],
  ])(
    'never exceeds the concurrency limit, admits FIFO, and ends every task in exactly one final state with onComplete called once%s',
    async (_, withStore) => {
      const unhandled = vi.fn();
      process.on('unhandledRejection', unhandled);
      try {
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(op, { minLength: 1, maxLength: 60 }), async (max, ops) => {
            const store = withStore ? sqliteStore({ path: ':memory:' }) : undefined;
            const runner = new BackgroundRunner({ maxConcurrentTasks: max, cleanupDelay: 30, store });
            runner.on('error', () => undefined); // throwing callbacks are part of the test
            const gates: Deferred<string>[] = [];
            const tasks: BackgroundTask[] = [];
            const finals = new Map<string, string[]>();
            const completions = new Map<string, number>();
            const startOrder: number[] = [];
            let inWork = 0;
            let peak = 0;
            for (const name of ['completed', 'failed', 'cancelled'] as const) {
              runner.on(name, ({ task }: { task: BackgroundTask }) => finals.set(task.id, [...(finals.get(task.id) ?? []), name]));
            }
            const check = () => {
              expect(runner.runningTasks.length).toBeLessThanOrEqual(max);
              expect(inWork).toBeLessThanOrEqual(max);
              // Work-conserving: a free slot never sits next to a pending task.
              if (runner.pendingTasks.length > 0) expect(runner.runningTasks.length).toBe(max);
            };
            for (const step of ops) {
              if (step.kind === 'submit') {
                const index = gates.length;
                const gate = deferred<string>();
                // A gate may be rejected for work that never started; that rejection is the test's own.
                gate.promise.catch(() => undefined);
                gates.push(gate);
                const task = await runner.submit(
                  async (ctx: TaskContext) => {
                    startOrder.push(index);
                    inWork += 1;
                    peak = Math.max(peak, inWork);
                    const release = () => (inWork -= 1);
                    ctx.signal.addEventListener('abort', release);
                    try {
                      return await gate.promise;
                    } finally {
                      if (!ctx.signal.aborted) release();
                    }
                  },
                  {
                    timeout: step.timeout,
                    onComplete: (t) => {
                      completions.set(t.id, (completions.get(t.id) ?? 0) + 1);
                      if (step.throwingCallback) throw new Error('callback fails');
                    },
                  },
                );
                if (step.observe) void task.actor;
                tasks.push(task);
              } else if (step.kind === 'advance') {
                await vi.advanceTimersByTimeAsync(step.ms);
              } else if (gates.length > 0) {
                const i = step.index % gates.length;
                if (step.kind === 'cancel') await tasks[i]!.cancel();
                else if (step.kind === 'complete') gates[i]!.resolve(`r${i}`);
                else gates[i]!.reject(new Error(`f${i}`));
              }
              await vi.advanceTimersByTimeAsync(0);
              check();
            }
            await runner.cancelAll();
            await vi.advanceTimersByTimeAsync(0);
            for (const gate of gates) gate.resolve('late');
            await vi.advanceTimersByTimeAsync(100);
            expect(peak).toBeLessThanOrEqual(max);
            expect(inWork).toBe(0);
            expect([...startOrder]).toEqual([...startOrder].sort((a, b) => a - b));
            for (const task of tasks) {
              expect(task.isCompleted).toBe(true);
              expect(finals.get(task.id)).toEqual([task.status]);
              expect(completions.get(task.id)).toBe(1);
              if (task.status === 'completed') expect(task.result).toMatch(/^r\d+$/);
            }
            expect(runner.isIdle).toBe(true);
            expect(runner.tasks).toEqual([]); // all cleaned up after cleanupDelay
            if (store) {
              // Cleanup forgets tasks in memory; the store keeps each one's single final state.
              for (const task of tasks) {
                const row = store.get(task.id);
                expect([row?.status, row?.result ?? null, row?.error?.name, row?.delivered]).toEqual([
                  task.status,
                  task.status === 'completed' ? task.result : null,
                  task.error?.name,
                  true,
                ]);
              }
              expect(store.recoverable({ id: 'another-runner', pid: process.pid, host: 'test' })).toEqual([]);
            }
            await runner.stop();
          }),
          { numRuns: 150 },
        );
        expect(unhandled).not.toHaveBeenCalled();
      } finally {
        process.off('unhandledRejection', unhandled);
      }
    },
  );
});
