import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { applyControl, controlOps, endAttempt, openGate } from '../helpers/ops.js';
import type { ControlOp, Watched } from '../helpers/ops.js';
import { deferred } from '../helpers/tasks.js';
import type { Deferred } from '../helpers/tasks.js';

type Op =
  | { kind: 'submit'; priority: number; retries: number; observe: boolean }
  | { kind: 'complete' | 'fail' | 'cancel'; index: number }
  | ControlOp;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      priority: fc.integer({ min: -2, max: 2 }),
      retries: fc.integer({ min: 0, max: 2 }),
      observe: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('complete' as const, 'fail' as const, 'cancel' as const), index: fc.nat() }) },
  ...controlOps(3, 300),
);

describe('scheduling invariants (fast-check)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ['', false],
    [', and with a store (some cancels made through it) records that same final state', true],
  ])(
    'respects concurrency, the rate limit and priority order through retries, pauses and resizes; every task ends once%s',
    async (_, withStore) => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(op, { minLength: 1, maxLength: 50 }), async (initial, ops) => {
          const rate = { max: 3, interval: 200 };
          const store = withStore ? sqliteStore({ path: ':memory:' }) : undefined;
          const runner = new BackgroundRunner({ maxConcurrentTasks: initial, rateLimit: rate, cleanupDelay: 1, store });
          const watched: Watched = { limit: initial, paused: false };
          const calls: Deferred<string>[][] = [];
          const tasks: BackgroundTask[] = [];
          const priorities: number[] = [];
          const admissions: { index: number; at: number }[] = [];
          const finals = new Map<string, number>();
          let slots = 0; // tasks holding a slot: running or retrying
          for (const name of ['completed', 'failed', 'cancelled'] as const) {
            runner.on(name, ({ task }: { task: BackgroundTask }) => {
              finals.set(task.id, (finals.get(task.id) ?? 0) + 1);
              if (task.attempt > 0) slots -= 1;
            });
          }
          // Listener errors are caught by the runner, so violations are collected and asserted after.
          const violations: string[] = [];
          runner.on('started', ({ attempt }) => {
            if (attempt > 1) return;
            slots += 1;
            // The supervisor admits only while fewer than the current limit hold a slot, and never while paused.
            if (slots > watched.limit) violations.push(`${slots} slots held with a limit of ${watched.limit}`);
            if (watched.paused) violations.push('admitted while paused');
          });
          for (const step of ops) {
            switch (step.kind) {
              case 'submit': {
                const index = tasks.length;
                calls.push([]);
                priorities.push(step.priority);
                const task = await runner.submit(
                  (_ctx: TaskContext) => {
                    if (calls[index]!.length === 0) admissions.push({ index, at: Date.now() });
                    return openGate(calls[index]!);
                  },
                  { priority: step.priority, retries: step.retries, backoff: 50 },
                );
                if (step.observe) void task.actor;
                tasks.push(task);
                break;
              }
              case 'complete':
              case 'fail':
              case 'cancel': {
                if (tasks.length === 0) break;
                const i = step.index % tasks.length;
                // With a store, every other cancel goes through it: the runner picks it up on its next poll.
                if (step.kind === 'cancel' && store && step.index % 2 === 1) store.requestCancel(tasks[i]!.id);
                else if (step.kind === 'cancel') await tasks[i]!.cancel();
                else endAttempt(step.kind, i, calls);
                break;
              }
              default:
                await applyControl(runner, step, watched);
            }
            await vi.advanceTimersByTimeAsync(0);
            expect(slots).toBeGreaterThanOrEqual(0);
            expect(violations).toEqual([]);
          }
          // Give the runner a poll to pick up the cancels still requested through the store.
          if (store) await vi.advanceTimersByTimeAsync(250);
          // No window of `interval` ms saw more than `max` first starts.
          for (const a of admissions) {
            const inWindow = admissions.filter((b) => b.at > a.at - rate.interval && b.at <= a.at).length;
            expect(inWindow).toBeLessThanOrEqual(rate.max);
          }
          watched.paused = false;
          runner.resume();
          await runner.cancelAll();
          await vi.advanceTimersByTimeAsync(1_000);
          for (const task of tasks) {
            expect(task.isCompleted).toBe(true);
            expect(finals.get(task.id)).toBe(1);
            if (task.status === 'completed') expect(task.result).toMatch(/^r\d+$/);
            if (store) {
              const row = store.get(task.id);
              expect([row?.status, row?.attempt, row?.result ?? null, row?.delivered]).toEqual([
                task.status,
                task.attempt,
                task.status === 'completed' ? task.result : null,
                true,
              ]);
            }
          }
          expect(runner.isIdle).toBe(true);
          await runner.stop();
        }),
        { numRuns: 120 },
      );
    },
  );

  it('admits queued tasks in priority order, FIFO within a priority, whatever the submission order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 40 }), async (prios) => {
        const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
        const gate = deferred();
        await runner.submit(() => gate.promise);
        const order: number[] = [];
        for (const [i, priority] of prios.entries()) await runner.submit(() => void order.push(i), { priority });
        gate.resolve(undefined);
        await runner.waitAll();
        const expected = prios
          .map((p, i) => ({ p, i }))
          .sort((a, b) => b.p - a.p || a.i - b.i)
          .map((x) => x.i);
        expect(order).toEqual(expected);
        await runner.stop();
      }),
      { numRuns: 100 },
    );
  });
});
