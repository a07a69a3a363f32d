import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { assign, createActor, sendTo, setup, spawnChild, stopChild, waitFor } from 'xstate';
import type { ActorRefFrom, Snapshot } from 'xstate';
import { backgroundRunnerLogic, RunnerError, TaskCancelledError, TaskLostError } from '../../src/index.js';
import type { RunnerLogicEmitted, RunnerLogicEvent, RunnerLogicInput, RunnerLogicSnapshot, TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { leaveBehind, record, tempDb } from '../helpers/store.js';
import { deferred, flushMicrotasks, sleepWork } from '../helpers/tasks.js';

type ParentEvent = RunnerLogicEmitted | { type: 'forward'; event: RunnerLogicEvent } | { type: 'leave' };

/**
 * A machine that invokes the runner in `working`, forwards `forward` events to it and records
 * everything the runner sends back.
 */
function parentMachine(input: RunnerLogicInput) {
  return setup({
    types: { context: {} as { received: RunnerLogicEmitted[]; failure: unknown }, events: {} as ParentEvent },
    actors: { runner: backgroundRunnerLogic },
  }).createMachine({
    id: 'parent',
    context: { received: [], failure: undefined },
    initial: 'working',
    states: {
      working: {
        invoke: {
          id: 'runner',
          src: 'runner',
          input,
          onError: { target: 'broken', actions: assign({ failure: ({ event }) => event.error }) },
        },
        on: {
          forward: { actions: sendTo('runner', ({ event }) => event.event) },
          leave: 'left',
          'task.*': { actions: assign({ received: ({ context, event }) => [...context.received, event as RunnerLogicEmitted] }) },
        },
      },
      left: {},
      broken: {},
    },
  });
}

function start(input: RunnerLogicInput = {}) {
  const actor = createActor(parentMachine(input)).start();
  const send = (event: RunnerLogicEvent) => actor.send({ type: 'forward', event });
  const runnerActor = () => actor.getSnapshot().children.runner as ActorRefFrom<typeof backgroundRunnerLogic>;
  const received = () => actor.getSnapshot().context.received;
  const types = () => received().map((event) => event.type);
  return { actor, send, runnerActor, received, types };
}

describe('backgroundRunnerLogic', () => {
  afterEach(() => vi.useRealTimers());

  describe('when a machine invokes it and sends task.submit', () => {
    it('sends task.submitted, task.started and task.completed with the result and the requestId', async () => {
      const { actor, send, received, types } = start();
      send({ type: 'task.submit', fn: async (topic: string) => `notes on ${topic}`, args: ['AI'], name: 'research', requestId: 'r1' });
      await waitFor(actor, (s) => s.context.received.some((e) => e.type === 'task.completed'));

      expect(types()).toEqual(['task.submitted', 'task.started', 'task.completed']);
      const [submitted, , completed] = received();
      expect(submitted).toMatchObject({ type: 'task.submitted', name: 'research', requestId: 'r1' });
      expect(completed).toEqual({
        type: 'task.completed',
        taskId: (submitted as { taskId: string }).taskId,
        name: 'research',
        requestId: 'r1',
        result: 'notes on AI',
      });
      actor.stop();
    });

    it('runs a named handler from its input with the event args, named after the handler', async () => {
      const research = vi.fn(async (topic: string, depth: number) => `${topic}:${depth}`);
      const { actor, send, received } = start({ handlers: { research } });
      send({ type: 'task.submit', handler: 'research', args: ['AI', 2], requestId: 'ai' });
      await waitFor(actor, (s) => s.context.received.some((e) => e.type === 'task.completed'));

      expect(research).toHaveBeenCalledWith('AI', 2, expect.objectContaining({ signal: expect.any(AbortSignal) }));
      expect(received().at(-1)).toMatchObject({ type: 'task.completed', name: 'research', requestId: 'ai', result: 'AI:2' });
      actor.stop();
    });

    it('reports progress and failure as task.progress and task.failed', async () => {
      const boom = new Error('boom');
      const { actor, send, received } = start();
      send({
        type: 'task.submit',
        fn: async ({ reportProgress }: TaskContext) => {
          reportProgress(0.5, 'half');
          throw boom;
        },
        requestId: 'x',
      });
      await waitFor(actor, (s) => s.context.received.some((e) => e.type === 'task.failed'));

      expect(received().find((e) => e.type === 'task.progress')).toMatchObject({ progress: 0.5, message: 'half', requestId: 'x' });
      expect(received().at(-1)).toMatchObject({ type: 'task.failed', error: boom, requestId: 'x' });
      actor.stop();
    });

    it('keeps the requestId of each submit apart when several run at once', async () => {
      const { actor, send, received } = start({ maxConcurrentTasks: 2 });
      for (const topic of ['a', 'b', 'c']) send({ type: 'task.submit', fn: async () => topic.toUpperCase(), requestId: topic });
      await waitFor(actor, (s) => s.context.received.filter((e) => e.type === 'task.completed').length === 3);

      const completed = received().filter((e) => e.type === 'task.completed');
      expect(completed.map((e) => [e.requestId, e.result])).toEqual([
        ['a', 'A'],
        ['b', 'B'],
        ['c', 'C'],
      ]);
      const submittedIds = new Map(
        received()
          .filter((e) => e.type === 'task.submitted')
          .map((e) => [e.requestId, e.taskId]),
      );
      for (const event of completed) expect(submittedIds.get(event.requestId)).toBe(event.taskId);
      actor.stop();
    });

    it('honours the maxConcurrentTasks of its input', async () => {
      const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
      const { actor, send, types } = start({ maxConcurrentTasks: 2 });
      for (const gate of gates) send({ type: 'task.submit', fn: () => gate.promise });
      await flushMicrotasks();
      expect(types().filter((t) => t === 'task.started')).toHaveLength(2);
      gates[0]!.resolve('done');
      await waitFor(actor, (s) => s.context.received.filter((e) => e.type === 'task.started').length === 3);
      actor.stop();
    });
  });

  describe('when a task fails and has retries left', () => {
    it('sends task.retrying with the error and the delay, then the final event', async () => {
      vi.useFakeTimers();
      let calls = 0;
      const { actor, send, received } = start();
      send({
        type: 'task.submit',
        fn: async () => {
          calls += 1;
          if (calls === 1) throw new Error('flaky');
          return 'second time';
        },
        retries: 1,
        backoff: 500,
        requestId: 'r',
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(received().at(-1)).toMatchObject({
        type: 'task.retrying',
        attempt: 1,
        delayMs: 500,
        requestId: 'r',
        error: { message: 'flaky' },
      });
      await vi.advanceTimersByTimeAsync(500);
      expect(received().map((e) => e.type)).toEqual(['task.submitted', 'task.started', 'task.retrying', 'task.started', 'task.completed']);
      expect(received().at(-1)).toMatchObject({ result: 'second time', requestId: 'r' });
      actor.stop();
    });
  });

  describe('when a machine spawns it', () => {
    it('runs tasks for the spawner and stops the runner on stopChild', async () => {
      vi.useFakeTimers();
      const signals: AbortSignal[] = [];
      const machine = setup({
        types: { context: {} as { received: string[] }, events: {} as RunnerLogicEmitted | { type: 'go' } | { type: 'kill' } },
        actors: { runner: backgroundRunnerLogic },
      }).createMachine({
        context: { received: [] },
        entry: spawnChild('runner', { id: 'pool', input: { maxConcurrentTasks: 1 } }),
        on: {
          go: {
            actions: sendTo('pool', {
              type: 'task.submit',
              fn: (context: TaskContext) => {
                signals.push(context.signal);
                return sleepWork(1_000, 'x')(context);
              },
            }),
          },
          kill: { actions: stopChild('pool') },
          'task.*': { actions: assign({ received: ({ context, event }) => [...context.received, event.type] }) },
        },
      });
      const actor = createActor(machine).start();
      actor.send({ type: 'go' });
      await vi.advanceTimersByTimeAsync(0);
      expect(actor.getSnapshot().context.received).toEqual(['task.submitted', 'task.started']);
      actor.send({ type: 'kill' });
      expect(signals[0]!.aborted).toBe(true);
      expect(actor.getSnapshot().children.pool).toBeUndefined();
      await vi.advanceTimersByTimeAsync(2_000);
      expect(actor.getSnapshot().context.received).toEqual(['task.submitted', 'task.started']);
      actor.stop();
    });
  });

  describe('when an event is bad', () => {
    it.each([
      [
        'an unknown handler',
        { type: 'task.submit', handler: 'nope', requestId: 'q' },
        /No handler named "nope"; define it first with runner.define\("nope", fn\) \(defined: "research"\)/,
      ],
      [
        'a non-function fn',
        { type: 'task.submit', fn: 42 as never, requestId: 'q' },
        /Expected `fn` to be a function or the name of a defined handler, got `42` \(number\)/,
      ],
      ['neither fn nor handler', { type: 'task.submit', requestId: 'q' }, /got neither/],
      ['both fn and handler', { type: 'task.submit', fn: () => 1, handler: 'research', requestId: 'q' }, /got both/],
      [
        'a bad option',
        { type: 'task.submit', fn: () => 1, timeout: -5, requestId: 'q' },
        /Expected `timeout` to be a number of milliseconds/,
      ],
    ] satisfies [string, RunnerLogicEvent, RegExp][])('sends task.rejected for %s and keeps working', async (_, event, message) => {
      const { actor, send, received } = start({ handlers: { research: async () => 'r' } });
      send(event);
      await waitFor(actor, (s) => s.context.received.length > 0);

      const [rejected] = received();
      expect(rejected).toMatchObject({ type: 'task.rejected', requestId: 'q' });
      expect(['TypeError', 'RangeError', 'UnknownHandlerError']).toContain((rejected as { error: Error }).error.name);
      expect((rejected as { error: Error }).error.message).toMatch(message);
      expect(actor.getSnapshot().value).toBe('working');

      send({ type: 'task.submit', handler: 'research', requestId: 'ok' });
      await waitFor(actor, (s) => s.context.received.some((e) => e.type === 'task.completed'));
      expect(received().at(-1)).toMatchObject({ type: 'task.completed', requestId: 'ok', result: 'r' });
      actor.stop();
    });

    it('sends task.rejected for a task.cancel without a task id', async () => {
      const { actor, send, received } = start();
      send({ type: 'task.cancel', taskId: undefined as never });
      await waitFor(actor, (s) => s.context.received.length > 0);
      expect(received()[0]).toMatchObject({ type: 'task.rejected', error: expect.any(TypeError) });
      actor.stop();
    });

    it('fails the invoke (onError) for a bad input, without throwing', () => {
      const { actor } = start({ maxConcurrentTasks: 0 });
      expect(actor.getSnapshot().value).toBe('broken');
      expect(actor.getSnapshot().context.failure).toBeInstanceOf(RangeError);
      expect(String(actor.getSnapshot().context.failure)).toMatch(
        /Expected `maxConcurrentTasks` to be a positive integer, got `0` \(number\)/,
      );
      const bad = start({ handlers: { research: 'not a function' as never } });
      expect(bad.actor.getSnapshot().context.failure).toBeInstanceOf(TypeError);
      expect(String(bad.actor.getSnapshot().context.failure)).toMatch(/Expected `handlers.research` to be a function/);
    });
  });

  describe('when it receives task.cancel', () => {
    it('cancels the task, aborts its signal and sends task.cancelled', async () => {
      vi.useFakeTimers();
      const signals: AbortSignal[] = [];
      const { actor, send, received } = start();
      send({
        type: 'task.submit',
        fn: (context: TaskContext) => {
          signals.push(context.signal);
          return sleepWork(10_000, 'late')(context);
        },
        requestId: 'slow',
      });
      await vi.advanceTimersByTimeAsync(0);
      const taskId = received()[0]!.type === 'task.submitted' ? (received()[0] as { taskId: string }).taskId : '';
      send({ type: 'task.cancel', taskId, reason: 'no longer needed' });
      await vi.advanceTimersByTimeAsync(0);

      expect(signals[0]!.aborted).toBe(true);
      const cancelled = received().at(-1);
      expect(cancelled).toMatchObject({ type: 'task.cancelled', taskId, requestId: 'slow' });
      expect((cancelled as { error: Error }).error).toBeInstanceOf(TaskCancelledError);
      expect((cancelled as { error: Error }).error.message).toMatch(/no longer needed/);
      actor.stop();
    });
  });

  describe('when the invoking state is left', () => {
    it('stops the runner: running and pending tasks are cancelled and nothing more is sent', async () => {
      vi.useFakeTimers();
      const signals: AbortSignal[] = [];
      const work = (context: TaskContext) => {
        signals.push(context.signal);
        return sleepWork(1_000, 'done')(context);
      };
      const { actor, send, runnerActor, received } = start({ maxConcurrentTasks: 1 });
      send({ type: 'task.submit', fn: work });
      send({ type: 'task.submit', fn: work });
      await vi.advanceTimersByTimeAsync(0);
      const runner = runnerActor().getSnapshot().context.runner;
      const count = received().length;

      actor.send({ type: 'leave' });
      expect(runnerActor()).toBeUndefined();
      expect(runner.isStopped).toBe(true);
      expect(signals).toHaveLength(1);
      expect(signals[0]!.aborted).toBe(true);
      expect(runner.tasks.map((task) => task.status)).toEqual(['cancelled', 'cancelled']);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(received()).toHaveLength(count);
      actor.stop();
    });
  });

  describe('its snapshot', () => {
    it('shows the runner and its task summaries, updated as tasks change', async () => {
      const gate = deferred<string>();
      const { actor, send, runnerActor } = start();
      const versions: number[] = [];
      runnerActor().subscribe((s) => versions.push(s.context.version));
      send({ type: 'task.submit', fn: () => gate.promise, name: 'slow' });
      await waitFor(runnerActor(), (s) => s.context.counts.running === 1);
      const [summary] = [...runnerActor().getSnapshot().context.tasks.values()];
      expect(summary).toMatchObject({ name: 'slow', status: 'running' });
      expect(runnerActor().getSnapshot().context.runner.getTask(summary!.id)?.status).toBe('running');

      gate.resolve('ok');
      await waitFor(runnerActor(), (s) => s.context.counts.completed === 1);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
      actor.stop();
    });

    it('drops tasks the runner cleaned up', async () => {
      vi.useFakeTimers();
      const { actor, send, runnerActor } = start({ cleanupDelay: 1_000 });
      send({ type: 'task.submit', fn: () => 'quick' });
      await vi.advanceTimersByTimeAsync(0);
      expect(runnerActor().getSnapshot().context.tasks.size).toBe(1);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(runnerActor().getSnapshot().context.tasks.size).toBe(0);
      actor.stop();
    });

    it('is stored before the parent hears of the change', async () => {
      const seen: string[] = [];
      const machine = setup({
        types: { events: {} as RunnerLogicEmitted | { type: 'go' } },
        actors: { runner: backgroundRunnerLogic },
      }).createMachine({
        invoke: { id: 'runner', src: 'runner' },
        on: {
          go: { actions: sendTo('runner', { type: 'task.submit', fn: () => 'x' }) },
          'task.*': {
            actions: ({ event, self }) => {
              const runner = self.getSnapshot().children.runner as ActorRefFrom<typeof backgroundRunnerLogic>;
              if ('taskId' in event) seen.push(`${event.type}:${runner.getSnapshot().context.tasks.get(event.taskId)?.status}`);
            },
          },
        },
      });
      const actor = createActor(machine).start();
      actor.send({ type: 'go' });
      await waitFor(actor, () => seen.length === 3);
      expect(seen).toEqual(['task.submitted:pending', 'task.started:running', 'task.completed:completed']);
      actor.stop();
    });
  });

  describe('on its own (createActor, no parent)', () => {
    it('emits its events for actor.on and pauses and resumes admission', async () => {
      const runner = createActor(backgroundRunnerLogic, { input: { maxConcurrentTasks: 1 } }).start();
      const events: RunnerLogicEmitted[] = [];
      runner.on('*', (event) => events.push(event));
      runner.send({ type: 'runner.pause' });
      runner.send({ type: 'task.submit', fn: () => 'a', requestId: 'a' });
      await flushMicrotasks();
      expect(events.map((e) => e.type)).toEqual(['task.submitted']);
      expect(runner.getSnapshot().context.runner.isPaused).toBe(true);

      runner.send({ type: 'runner.resume' });
      await waitFor(runner, (s) => s.context.counts.completed === 1);
      await flushMicrotasks();
      expect(events.map((e) => e.type)).toEqual(['task.submitted', 'task.started', 'task.completed']);
      runner.stop();
      expect(runner.getSnapshot().status).toBe('stopped');
      expect(runner.getSnapshot().context.runner.isStopped).toBe(true);
    });
  });

  describe('when a machine is restored from a persisted snapshot', () => {
    it('starts a new runner with the same options and reports each unfinished task as task.failed', async () => {
      vi.useFakeTimers();
      const research = async (topic: string, context: TaskContext) => sleepWork(1_000, `notes on ${topic}`)(context);
      const first = start({ maxConcurrentTasks: 1, handlers: { research } });
      first.send({ type: 'task.submit', handler: 'research', args: ['a'], requestId: 'a' });
      first.send({ type: 'task.submit', handler: 'research', args: ['b'], requestId: 'b' });
      await vi.advanceTimersByTimeAsync(0);
      const persisted = first.actor.getPersistedSnapshot();
      const lostIds = first
        .received()
        .filter((e) => e.type === 'task.submitted')
        .map((e) => (e as { taskId: string }).taskId);
      first.actor.stop();

      const restored = createActor(parentMachine({}), { snapshot: persisted }).start();
      await vi.advanceTimersByTimeAsync(0);
      const failed = restored.getSnapshot().context.received.filter((e) => e.type === 'task.failed');
      expect(failed.map((e) => [e.requestId, e.taskId])).toEqual([
        ['a', lostIds[0]],
        ['b', lostIds[1]],
      ]);
      expect((failed[0] as { error: Error }).error).toBeInstanceOf(RunnerError);
      expect((failed[0] as { error: Error }).error.message).toMatch(/was lost: the machine was restored from a persisted snapshot/);

      // In memory, the handlers survive: the restored runner runs named submits, one at a time as before.
      const runnerActor = restored.getSnapshot().children.runner as ActorRefFrom<typeof backgroundRunnerLogic>;
      expect(runnerActor.getSnapshot().context.runner.config.maxConcurrentTasks).toBe(1);
      restored.send({ type: 'forward', event: { type: 'task.submit', handler: 'research', args: ['c'], requestId: 'c' } });
      await vi.advanceTimersByTimeAsync(1_000);
      expect(restored.getSnapshot().context.received.at(-1)).toMatchObject({
        type: 'task.completed',
        requestId: 'c',
        result: 'notes on c',
      });
      restored.stop();
    });

    it('survives a JSON round trip: options come back, named submits are refused until handlers are given', async () => {
      const first = start({ maxConcurrentTasks: 3, cleanupDelay: 1_000, handlers: { research: async () => 'r' } });
      const json = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as Snapshot<unknown>;
      first.actor.stop();
      const restored = createActor(parentMachine({}), { snapshot: json }).start();
      const runner = (restored.getSnapshot().children.runner as ActorRefFrom<typeof backgroundRunnerLogic>).getSnapshot().context.runner;
      expect(runner.config).toMatchObject({ maxConcurrentTasks: 3, cleanupDelay: 1_000 });

      restored.send({ type: 'forward', event: { type: 'task.submit', handler: 'research', requestId: 'x' } });
      await waitFor(restored, (s) => s.context.received.length > 0);
      expect(restored.getSnapshot().context.received[0]).toMatchObject({ type: 'task.rejected', requestId: 'x' });
      expect((restored.getSnapshot().context.received[0] as { error: Error }).error.message).toMatch(
        /No handler named "research"; define it first with runner.define\("research", fn\) \(none are defined\)/,
      );
      restored.stop();
    });
  });

  describe('with a store, when its runner recovers what a dead process left behind', () => {
    it('shows the recovered tasks in its snapshot and sends task.failed with a TaskLostError for each lost one', async () => {
      const db = tempDb();
      try {
        leaveBehind(db.path, [
          record({ id: 'gone', name: 'scan', handler: null, args: null, status: 'running', attempt: 1 }),
          record({ id: 'done', status: 'completed', result: 3, delivered: false }),
        ]);
        const { actor, runnerActor, received } = start({ store: sqliteStore({ path: db.path }) });
        const { runner } = runnerActor().getSnapshot().context;
        await runner.recover();
        await flushMicrotasks();

        const { counts, tasks } = runnerActor().getSnapshot().context;
        expect([counts.lost, counts.completed, tasks.size]).toEqual([1, 1, 2]);
        expect(received()).toEqual([
          { type: 'task.failed', taskId: 'gone', name: 'scan', requestId: undefined, error: expect.any(TaskLostError) },
        ]);
        actor.stop();
      } finally {
        db.cleanup();
      }
    });
  });

  describe('types', () => {
    it('types the events a machine sends it and receives from it', () => {
      const machine = setup({
        types: { events: {} as RunnerLogicEmitted },
        actors: { runner: backgroundRunnerLogic },
      }).createMachine({
        invoke: { id: 'runner', src: 'runner', input: { maxConcurrentTasks: 2, handlers: { research: async (topic: string) => topic } } },
        on: {
          'task.completed': {
            actions: ({ event }) => {
              expectTypeOf(event.result).toEqualTypeOf<unknown>();
              expectTypeOf(event.requestId).toEqualTypeOf<string | undefined>();
              expectTypeOf(event.taskId).toEqualTypeOf<string>();
            },
          },
          'task.failed': { actions: ({ event }) => expectTypeOf(event.error).toEqualTypeOf<Error>() },
          'task.progress': { actions: ({ event }) => expectTypeOf(event.progress).toEqualTypeOf<number>() },
        },
      });
      expectTypeOf(machine).not.toBeAny();
      type RunnerRef = ActorRefFrom<typeof backgroundRunnerLogic>;
      expectTypeOf<Parameters<RunnerRef['send']>[0]>().toEqualTypeOf<RunnerLogicEvent>();
      expectTypeOf<ReturnType<RunnerRef['getSnapshot']>>().toEqualTypeOf<RunnerLogicSnapshot>();
      expectTypeOf<RunnerLogicEmitted['type']>().toEqualTypeOf<
        | 'task.submitted'
        | 'task.started'
        | 'task.progress'
        | 'task.retrying'
        | 'task.completed'
        | 'task.failed'
        | 'task.cancelled'
        | 'task.rejected'
      >();
      // @ts-expect-error an event the runner does not accept
      expectTypeOf<RunnerLogicEvent>().toExtend<{ type: 'task.explode' }>();
    });
  });
});
