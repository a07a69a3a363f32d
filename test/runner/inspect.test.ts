import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createWebSocketInspector } from '@statelyai/inspect';
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { createActor, sendTo, setup, waitFor } from 'xstate';
import type { ActorRefFrom, AnyActorRef, InspectionEvent } from 'xstate';
import { BackgroundRunner, backgroundRunnerLogic, TaskCancelledError } from '../../src/index.js';
import type { BackgroundTask, RunnerLogicEmitted, TaskContext } from '../../src/index.js';

describe('the inspect option', () => {
  it('shows the supervisor and every task actor, parented by the supervisor, with their transitions', async () => {
    const events: InspectionEvent[] = [];
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1, inspect: (event) => events.push(event) });
    const a = await runner.submit(() => 'a', { name: 'a' });
    const b = await runner.submit(() => Promise.reject(new Error('b')), { name: 'b' });
    await runner.waitAll();

    const actors = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef as AnyActorRef);
    const supervisor = actors.find((ref) => ref.id === 'supervisor');
    expect(supervisor).toBeDefined();
    for (const task of [a, b]) {
      const ref = actors.find((r) => r.id === task.id);
      expect(ref).toBe(task.actor);
      expect((ref as unknown as { _parent: unknown })._parent).toBe(supervisor);
    }
    const transitions = (id: string) =>
      events
        .filter(
          (e): e is Extract<InspectionEvent, { type: '@xstate.snapshot' }> =>
            e.type === '@xstate.snapshot' && (e.actorRef as AnyActorRef).id === id,
        )
        .map((e) => (e.snapshot as unknown as { value: string }).value);
    expect(transitions(a.id)).toEqual(['pending', 'running', 'completed']);
    expect(transitions(b.id)).toEqual(['pending', 'running', 'failed']);
    const received = events
      .filter(
        (e): e is Extract<InspectionEvent, { type: '@xstate.event' }> =>
          e.type === '@xstate.event' && (e.actorRef as AnyActorRef).id === 'supervisor',
      )
      .map((e) => e.event as { type: string; settled?: { taskId: string }[] });
    // Every fact reaches the supervisor as an event the inspector sees: with an inspector attached
    // nothing takes the in-place path, including the settle of each task.
    const settled = received.filter((e) => e.type === 'sync').flatMap((e) => (e.settled ?? []).map((entry) => entry.taskId));
    expect(settled).toEqual([a.id, b.id]);
  });
});

describe('the inspect option with a long queue', () => {
  /** Internal: whether the handle holds an actor. */
  const hasActor = (task: BackgroundTask) => (task as unknown as { _actor: unknown })._actor !== undefined;

  it('gives a queued task its actor when it leaves the queue, and the inspector still sees it from pending', async () => {
    const events: InspectionEvent[] = [];
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1, inspect: (event) => events.push(event) });
    let release!: () => void;
    const first = await runner.submit(() => new Promise<void>((resolve) => (release = resolve)), { name: 'first' });
    const queued = await runner.submit(() => 'q', { name: 'queued' });
    const dropped = await runner.submit(() => 'd', { name: 'dropped' });
    await Promise.resolve();
    expect(hasActor(first)).toBe(true);
    // 100,000 waiting tasks must not be 100,000 live actors.
    expect(hasActor(queued)).toBe(false);
    expect(hasActor(dropped)).toBe(false);
    expect(await runner.cancelTask(dropped.id)).toBe(true);
    release();
    await runner.waitAll();
    const values = (task: BackgroundTask) =>
      events
        .filter(
          (e): e is Extract<InspectionEvent, { type: '@xstate.snapshot' }> =>
            e.type === '@xstate.snapshot' && (e.actorRef as AnyActorRef).id === task.id,
        )
        .map((e) => (e.snapshot as unknown as { value: string }).value);
    expect(values(queued)).toEqual(['pending', 'running', 'completed']);
    expect(values(dropped)).toEqual(['pending', 'cancelled']);
    expect(events.filter((e) => e.type === '@xstate.actor' && (e.actorRef as AnyActorRef).id === dropped.id)).toHaveLength(1);
  });

  it('aborts the work of a task that has an actor when it is cancelled, with the TaskCancelledError', async () => {
    const runner = new BackgroundRunner({ inspect: () => undefined });
    let signal: AbortSignal | undefined;
    const task = await runner.submit((ctx: TaskContext) => {
      signal = ctx.signal;
      return new Promise(() => undefined);
    });
    await vi.waitFor(() => expect(signal).toBeDefined());
    expect(task.actor.getSnapshot().value).toBe('running');
    expect(await runner.cancelTask(task.id, 'enough')).toBe(true);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(TaskCancelledError);
    expect(task.actor.getSnapshot().value).toBe('cancelled');
    await runner.stop();
  });

  it('makes one actor per task: the work is not a second, invoked actor', async () => {
    const events: InspectionEvent[] = [];
    const runner = new BackgroundRunner({ maxConcurrentTasks: 2, inspect: (event) => events.push(event) });
    const tasks = await Promise.all([1, 2, 3, 4].map((n) => runner.submit(async () => n, { name: `t${n}` })));
    await runner.waitAll();
    const actors = events.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as AnyActorRef).id);
    expect(actors.sort()).toEqual(['supervisor', ...tasks.map((t) => t.id)].sort());
    for (const task of tasks) expect(Object.keys(task.actor.getSnapshot().children)).toEqual([]);
  });
});

describe('the inspect option of backgroundRunnerLogic', () => {
  it("shows the tasks of a runner invoked by a machine, under that runner's supervisor", async () => {
    const events: InspectionEvent[] = [];
    const inspect = (event: InspectionEvent) => events.push(event);
    const machine = setup({ types: { events: {} as RunnerLogicEmitted }, actors: { runner: backgroundRunnerLogic } }).createMachine({
      invoke: { id: 'runner', src: 'runner', input: { inspect } },
      entry: sendTo('runner', { type: 'task.submit', fn: () => 'done', name: 'inside' }),
    });
    const agent = createActor(machine, { inspect }).start();
    const runnerActor = agent.getSnapshot().children.runner as ActorRefFrom<typeof backgroundRunnerLogic>;
    await waitFor(runnerActor, (s) => s.context.counts.completed === 1);

    const runner = runnerActor.getSnapshot().context.runner;
    const [task] = runner.tasks;
    const registered = events.filter((e) => e.type === '@xstate.actor').map((e) => e.actorRef as AnyActorRef);
    expect(registered).toContain(agent);
    expect(registered).toContain(runnerActor);
    expect(registered).toContain(runner.supervisor);
    expect(registered).toContain(task!.actor);
    expect((task!.actor as unknown as { _parent: unknown })._parent).toBe(runner.supervisor);
    const received = events
      .filter((e): e is Extract<InspectionEvent, { type: '@xstate.event' }> => e.type === '@xstate.event' && e.actorRef === agent)
      .map((e) => [e.event.type, e.sourceRef === runnerActor]);
    expect(received).toEqual(expect.arrayContaining([['task.completed', true]]));
    agent.stop();
  });
});

describe('the inspect option with @statelyai/inspect over a WebSocket', () => {
  interface Message {
    type: string;
    name?: string;
    sessionId: string;
    parentId?: string;
    rootId?: string;
    event?: { type: string };
    snapshot?: { value?: unknown; status?: string; context?: { name?: string } };
  }

  /** A local stand-in for the inspector endpoint: records every message the inspector sends. */
  async function startEndpoint() {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    const messages: Message[] = [];
    let onMessage = (): void => {};
    server.on('connection', (socket) => {
      socket.on('message', (data) => {
        messages.push(JSON.parse(String(data)) as Message);
        onMessage();
      });
    });
    /** Resolves once `predicate(messages)` holds: waits on arriving messages, never on a fixed sleep. */
    const until = (predicate: (all: Message[]) => boolean) =>
      new Promise<void>((resolve) => {
        onMessage = () => {
          if (predicate(messages)) resolve();
        };
        onMessage();
      });
    const { port } = server.address() as AddressInfo;
    const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    return { url: `ws://127.0.0.1:${port}`, messages, until, close };
  }

  it('sends the supervisor, every task actor with the supervisor as parent, and each task transition', async () => {
    const endpoint = await startEndpoint();
    const inspector = createWebSocketInspector({ url: endpoint.url });
    const runner = new BackgroundRunner({ maxConcurrentTasks: 2, inspect: inspector.inspect });
    try {
      const tasks = [
        await runner.submit(async () => 'a', { name: 'alpha' }),
        await runner.submit(async () => Promise.reject(new Error('b')), { name: 'beta' }),
        await runner.submit(async ({ reportProgress }: TaskContext) => (reportProgress(0.5, 'half'), 'c'), { name: 'gamma' }),
      ];
      await runner.waitAll();
      const finalValue = (task: BackgroundTask) => (m: Message) => m.type === '@xstate.snapshot' && m.snapshot?.value === task.status;
      const sessionOf = (task: BackgroundTask) => task.actor.sessionId;
      await endpoint.until((all) => tasks.every((task) => all.some((m) => m.sessionId === sessionOf(task) && finalValue(task)(m))));

      const actors = endpoint.messages.filter((m) => m.type === '@xstate.actor');
      const supervisor = actors.find((m) => m.name === 'supervisor');
      expect(supervisor?.sessionId).toBe(runner.supervisor.sessionId);
      expect(supervisor?.parentId).toBeUndefined();
      for (const task of tasks) {
        const registration = actors.find((m) => m.sessionId === sessionOf(task));
        expect(registration).toMatchObject({ name: task.id, parentId: runner.supervisor.sessionId, rootId: runner.supervisor.sessionId });
      }
      const values = (task: BackgroundTask) =>
        endpoint.messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === sessionOf(task)).map((m) => m.snapshot?.value);
      expect(values(tasks[0]!)).toEqual(['pending', 'running', 'completed']);
      expect(values(tasks[1]!)).toEqual(['pending', 'running', 'failed']);
      // A progress report is a snapshot in the same state, with the new progress in its context.
      expect(values(tasks[2]!)).toEqual(['pending', 'running', 'running', 'completed']);
      const events = (task: BackgroundTask) =>
        endpoint.messages.filter((m) => m.type === '@xstate.event' && m.sessionId === sessionOf(task)).map((m) => m.event?.type);
      expect(events(tasks[0]!)).toEqual(['xstate.init', 'start', 'done']);
      expect(events(tasks[1]!)).toEqual(['xstate.init', 'start', 'error']);
      expect(
        endpoint.messages.some(
          (m) => m.type === '@xstate.event' && m.sessionId === runner.supervisor.sessionId && m.event?.type === 'sync',
        ),
      ).toBe(true);
    } finally {
      await runner.stop();
      inspector.stop();
      await endpoint.close();
    }
  });
});
