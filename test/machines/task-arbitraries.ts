import fc from 'fast-check';
import { NonRetryableError, TaskLostError } from '../../src/index.js';
import type { TaskMachineContext, TaskMachineEvent, TaskMachineInput } from '../../src/index.js';

/** Shared by the chart's property tests: random task inputs and events, and contexts made comparable. */

/** Errors compared by class name and message: each path builds its own `TaskCancelledError`. */
export function comparable(context: TaskMachineContext) {
  const plain = (error: Error | undefined) => error && { name: error.name, message: error.message };
  return {
    ...context,
    error: plain(context.error),
    attempts: context.attempts.map((a) => ({ ...a, error: plain(a.error) })),
  };
}

export const at = fc.integer({ min: 1_000, max: 100_000 });
export const event: fc.Arbitrary<TaskMachineEvent> = fc.oneof(
  at.map((t) => ({ type: 'start' as const, at: t })),
  fc
    .record(
      {
        fraction: fc.oneof(fc.double({ min: -0.5, max: 1.5, noNaN: true }), fc.constant(undefined)),
        message: fc.option(fc.string(), { nil: undefined }),
      },
      { requiredKeys: [] },
    )
    .map((e) => ({ type: 'progress' as const, ...e })),
  fc.anything().map((chunk) => ({ type: 'progress' as const, chunk })),
  fc.tuple(fc.anything(), at).map(([output, t]) => ({ type: 'done' as const, output, at: t })),
  fc.tuple(fc.boolean(), fc.string(), at).map(([final, message, t]) => ({
    type: 'error' as const,
    error: final ? new NonRetryableError(message) : new Error(message),
    at: t,
  })),
  fc.constant({ type: 'timeout' as const }),
  at.map((t) => ({ type: 'retry' as const, at: t })),
  fc.tuple(at, fc.option(fc.string(), { nil: undefined })).map(([t, reason]) => ({ type: 'cancel' as const, at: t, reason })),
  at.map((t) => ({ type: 'lose' as const, at: t, error: new TaskLostError('t1', 'running', 'function') })),
);

export const input: fc.Arbitrary<TaskMachineInput> = fc.record({
  taskId: fc.constantFrom('t1', 'a-much-longer-task-id'),
  name: fc.constant('job'),
  timeout: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: undefined }),
  metadata: fc.constant({}),
  createdAt: fc.constant(1_000),
  work: fc.constant(null),
  maxAttempts: fc.integer({ min: 1, max: 4 }),
  backoff: fc.record({
    type: fc.constantFrom('fixed' as const, 'exponential' as const),
    delay: fc.integer({ min: 0, max: 10_000 }),
    maxDelay: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  retryOnTimeout: fc.boolean(),
});
