import { getSimplePaths } from '@xstate/graph';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { NonRetryableError, TaskCancelledError, TaskLostError, TaskTimeoutError, taskMachine } from '../../src/index.js';
import type { TaskMachineContext, TaskMachineEvent, TaskMachineInput } from '../../src/index.js';
import { transitionTask } from '../../src/machines/task-machine.js';

const input = (overrides: Partial<TaskMachineInput> = {}): TaskMachineInput => ({
  taskId: 't1',
  name: 'job',
  timeout: undefined,
  metadata: {},
  createdAt: 1_000,
  work: null,
  ...overrides,
});

const events: TaskMachineEvent[] = [
  { type: 'start', at: 1_010 },
  { type: 'progress', fraction: 0.5, message: 'half' },
  { type: 'progress', fraction: 1.5 },
  { type: 'progress', chunk: 'token' },
  { type: 'done', output: 'ok', at: 1_020 },
  { type: 'error', error: new Error('boom'), at: 1_030 },
  { type: 'error', error: new NonRetryableError('hopeless'), at: 1_035 },
  { type: 'timeout' },
  { type: 'retry', at: 1_100 },
  { type: 'cancel', at: 1_040, reason: 'user' },
  { type: 'lose', at: 1_050, error: new TaskLostError('t1', 'running', 'function') },
];

/** The parts of a context two runs can be compared on (errors compared by name and message). */
function comparable(context: TaskMachineContext) {
  const { error, ...rest } = context;
  return { ...rest, error: error && { name: error.name, message: error.message } };
}

describe('taskMachine', () => {
  // Two attempts, so the paths go through `retrying` and run out of retries too.
  const retrying = input({ timeout: 500, maxAttempts: 2, backoff: { type: 'exponential', delay: 100 } });
  const paths = getSimplePaths(taskMachine, {
    input: retrying,
    events,
    // `chunks > 0` (not the count) so a path may take one streamed item without going on forever.
    serializeState: (snapshot) =>
      JSON.stringify([snapshot.value, snapshot.context.progress, snapshot.context.attempt, snapshot.context.chunks > 0]),
  });

  it('reaches every state of the lifecycle', () => {
    const ends = new Set(paths.map((path) => path.state.value));
    expect([...ends].sort()).toEqual(['cancelled', 'completed', 'failed', 'lost', 'pending', 'retrying', 'running']);
  });

  it('walks a few hundred distinct paths', () => {
    expect(paths.length).toBeGreaterThan(50);
  });

  it('ends in exactly the final states completed, failed, cancelled and lost', () => {
    for (const path of paths) {
      const final = path.state.status === 'done';
      expect(final).toBe(['completed', 'failed', 'cancelled', 'lost'].includes(path.state.value as string));
    }
  });

  describe.each(paths.map((path) => [path.steps.map((step) => step.event.type).join(' → ') || '(initial)', path] as const))(
    'on the path %s',
    (_name, path) => {
      it('gives the same state and context as the compact transition the runner uses', () => {
        const actor = createActor(taskMachine, { input: retrying, clock: new SimulatedClock() }).start();
        let status: string = 'pending';
        let context = actor.getSnapshot().context;
        for (const { event } of path.steps) {
          actor.send(event);
          const next = transitionTask(status as 'pending', context, event);
          if (next) [status, context] = next;
          expect(actor.getSnapshot().value).toBe(status);
          expect(comparable(actor.getSnapshot().context)).toEqual(comparable(context));
        }
        expect(actor.getSnapshot().value).toBe(path.state.value);
      });
    },
  );

  describe('when the task has a timeout', () => {
    it('fails with TaskTimeoutError exactly `timeout` ms after it starts', () => {
      const clock = new SimulatedClock();
      const actor = createActor(taskMachine, { input: input({ timeout: 100 }), clock }).start();
      actor.send({ type: 'start', at: 1_010 });
      clock.increment(99);
      expect(actor.getSnapshot().value).toBe('running');
      clock.increment(1);
      const snapshot = actor.getSnapshot();
      expect(snapshot.value).toBe('failed');
      expect(snapshot.context.error).toBeInstanceOf(TaskTimeoutError);
      expect(snapshot.context.completedAt).toBe(1_110);
    });

    it('cancels the timer when the work finishes first', () => {
      const clock = new SimulatedClock();
      const actor = createActor(taskMachine, { input: input({ timeout: 100 }), clock }).start();
      actor.send({ type: 'start', at: 0 });
      actor.send({ type: 'done', output: 1, at: 50 });
      clock.increment(1_000);
      expect(actor.getSnapshot().value).toBe('completed');
      expect(actor.getSnapshot().context.error).toBeUndefined();
    });
  });

  describe('when the task has no timeout', () => {
    it('schedules no timer at all', () => {
      const scheduled: number[] = [];
      const clock = {
        setTimeout: (fn: () => void, ms: number) => {
          scheduled.push(ms);
          return setTimeout(fn, ms);
        },
        clearTimeout: (id: unknown) => clearTimeout(id as NodeJS.Timeout),
      };
      const actor = createActor(taskMachine, { input: input(), clock }).start();
      actor.send({ type: 'start', at: 0 });
      expect(scheduled).toEqual([]);
      expect(actor.getSnapshot().value).toBe('running');
      actor.stop();
    });
  });

  describe('when an attempt fails with attempts left', () => {
    it('waits the backoff in retrying, then runs the next attempt, keeping each attempt’s error', () => {
      const clock = new SimulatedClock();
      const starts: number[] = [];
      const machine = taskMachine.provide({
        actors: {
          execute: fromCallback(({ input: { attempt }, sendBack }) => {
            starts.push(attempt);
            sendBack(
              attempt < 3 ? { type: 'error', error: new Error(`attempt ${attempt}`), at: 0 } : { type: 'done', output: 'ok', at: 0 },
            );
          }),
        },
      });
      const actor = createActor(machine, {
        input: input({ maxAttempts: 3, backoff: { type: 'exponential', delay: 100 } }),
        clock,
      }).start();
      actor.send({ type: 'start', at: 0 });
      expect(actor.getSnapshot().value).toBe('retrying');
      expect(actor.getSnapshot().context.retryAt).toBe(100);
      clock.increment(99);
      expect(starts).toEqual([1]);
      clock.increment(1);
      expect(starts).toEqual([1, 2]);
      clock.increment(199);
      expect(starts).toEqual([1, 2]);
      clock.increment(1);
      const { value, context } = actor.getSnapshot();
      expect(value).toBe('completed');
      expect(starts).toEqual([1, 2, 3]);
      expect(context.attempts.map((a) => a.error.message)).toEqual(['attempt 1', 'attempt 2']);
      expect(context.attempt).toBe(3);
    });

    it('fails at once on NonRetryableError', () => {
      const actor = createActor(taskMachine, { input: input({ maxAttempts: 5 }) }).start();
      actor.send({ type: 'start', at: 0 });
      actor.send({ type: 'error', error: new NonRetryableError('bad key'), at: 1 });
      expect(actor.getSnapshot().value).toBe('failed');
      expect(actor.getSnapshot().context.attempts).toHaveLength(1);
    });

    it('does not retry a timeout with retryOnTimeout false', () => {
      const clock = new SimulatedClock();
      const actor = createActor(taskMachine, { input: input({ maxAttempts: 3, timeout: 10, retryOnTimeout: false }), clock }).start();
      actor.send({ type: 'start', at: 0 });
      clock.increment(10);
      expect(actor.getSnapshot().value).toBe('failed');
      expect(actor.getSnapshot().context.error).toBeInstanceOf(TaskTimeoutError);
    });

    it('is cancelled from retrying, and the retry timer is dropped', () => {
      const clock = new SimulatedClock();
      const actor = createActor(taskMachine, { input: input({ maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } }), clock }).start();
      actor.send({ type: 'start', at: 0 });
      actor.send({ type: 'error', error: new Error('x'), at: 5 });
      actor.send({ type: 'cancel', at: 6 });
      clock.increment(100);
      expect(actor.getSnapshot().value).toBe('cancelled');
      expect(actor.getSnapshot().context.attempt).toBe(1);
    });
  });

  describe('when a store reconciliation loses it', () => {
    it('ends lost from running with the TaskLostError, stopping the execute actor', () => {
      let stopped = 0;
      const machine = taskMachine.provide({ actors: { execute: fromCallback(() => () => void (stopped += 1)) } });
      const actor = createActor(machine, { input: input() }).start();
      actor.send({ type: 'start', at: 0 });
      const error = new TaskLostError('t1', 'running', 'function');
      actor.send({ type: 'lose', at: 7, error });
      const { value, context, status } = actor.getSnapshot();
      expect([value, status, context.error, context.completedAt, stopped]).toEqual(['lost', 'done', error, 7, 1]);
      expect(error.message).toMatch(/submitted as a function.*runner\.define\(\)/);
    });

    it('ignores lose in a final state', () => {
      const actor = createActor(taskMachine, { input: input() }).start();
      actor.send({ type: 'cancel', at: 1 });
      actor.send({ type: 'lose', at: 2, error: new TaskLostError('t1', 'pending', 'mark-lost') });
      expect(actor.getSnapshot().value).toBe('cancelled');
    });
  });

  describe('when it leaves running', () => {
    it('stops the invoked execute actor (which is how the work is aborted)', () => {
      let stopped = 0;
      const machine = taskMachine.provide({
        actors: { execute: fromCallback(() => () => void (stopped += 1)) },
      });
      const actor = createActor(machine, { input: input() }).start();
      actor.send({ type: 'start', at: 0 });
      expect(stopped).toBe(0);
      actor.send({ type: 'cancel', at: 5 });
      expect(stopped).toBe(1);
      expect(actor.getSnapshot().context.error).toBeInstanceOf(TaskCancelledError);
    });

    it('completes with what the execute actor sends back', () => {
      const machine = taskMachine.provide({
        actors: {
          execute: fromCallback(({ sendBack }) => {
            sendBack({ type: 'progress', fraction: 0.25, message: 'a quarter' });
            sendBack({ type: 'done', output: 42, at: 9 });
          }),
        },
      });
      const actor = createActor(machine, { input: input() }).start();
      actor.send({ type: 'start', at: 1 });
      const { value, context } = actor.getSnapshot();
      expect(value).toBe('completed');
      expect(context).toMatchObject({ result: 42, progress: 1, message: 'a quarter', startedAt: 1, completedAt: 9 });
    });
  });

  it('ignores progress outside 0..1 and every event in a final state', () => {
    const actor = createActor(taskMachine, { input: input() }).start();
    actor.send({ type: 'start', at: 0 });
    actor.send({ type: 'progress', fraction: -0.1 });
    expect(actor.getSnapshot().context.progress).toBe(0);
    actor.send({ type: 'done', output: 'first', at: 1 });
    actor.send({ type: 'error', error: new Error('late'), at: 2 });
    actor.send({ type: 'cancel', at: 3 });
    expect(actor.getSnapshot().value).toBe('completed');
    expect(actor.getSnapshot().context.result).toBe('first');
  });
});
