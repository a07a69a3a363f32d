import { assign, cancel, enqueueActions, fromCallback, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { TaskCancelledError, TaskTimeoutError } from '../errors.js';
import type { TaskId, TaskStatus } from '../types.js';

/**
 * Everything a task knows about itself. The task actor's snapshot holds it as `context`; the
 * `BackgroundTask` handle reads its fields from here.
 *
 * Timestamps are epoch milliseconds carried in by events, so the machine never reads a clock.
 */
export interface TaskMachineContext {
  readonly taskId: TaskId;
  readonly name: string;
  /** Per-task timeout in ms, or `undefined` for none. */
  readonly timeout: number | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly completedAt: number | undefined;
  /** 0..1; 1 once completed. */
  readonly progress: number;
  readonly message: string | undefined;
  readonly result: unknown;
  readonly error: Error | undefined;
  /**
   * The work the `execute` actor runs, passed through as its input. Opaque to the machine.
   * @internal
   */
  readonly work: unknown;
}

/** What a task actor is created with. */
export type TaskMachineInput = Pick<TaskMachineContext, 'taskId' | 'name' | 'timeout' | 'metadata' | 'createdAt' | 'work'>;

/**
 * Commands a task actor accepts. `start` comes from the supervisor, `cancel` from the user,
 * `progress`/`done`/`error` from the running work, `timeout` from the delayed event the machine
 * schedules on entering `running`.
 */
export type TaskMachineEvent =
  | { type: 'start'; at: number }
  | { type: 'progress'; fraction: number; message?: string | undefined }
  | { type: 'done'; output: unknown; at: number }
  | { type: 'error'; error: Error; at: number }
  | { type: 'timeout' }
  | { type: 'cancel'; at: number; reason?: string | undefined };

/** The delayed event's id, so leaving `running` cancels exactly that timer. */
const TIMEOUT_ID = 'task.timeout';

// Context updates are plain functions so the compact (actor-less) path and the actor apply the
// very same change for the same event: see `transitionTask`.
const updates = {
  start: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'start' }>): TaskMachineContext => ({
    ...c,
    startedAt: e.at,
  }),
  progress: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'progress' }>): TaskMachineContext => ({
    ...c,
    progress: e.fraction,
    message: e.message ?? c.message,
  }),
  done: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'done' }>): TaskMachineContext => ({
    ...c,
    progress: 1,
    result: e.output,
    completedAt: e.at,
  }),
  error: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'error' }>): TaskMachineContext => ({
    ...c,
    error: e.error,
    completedAt: e.at,
  }),
  // The timeout fires exactly `timeout` ms after the start, so its time needs no clock.
  timeout: (c: TaskMachineContext): TaskMachineContext => ({
    ...c,
    error: new TaskTimeoutError(c.taskId, c.timeout ?? 0),
    completedAt: (c.startedAt ?? c.createdAt) + (c.timeout ?? 0),
  }),
  cancel: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'cancel' }>): TaskMachineContext => ({
    ...c,
    error: new TaskCancelledError(c.taskId, e.reason),
    completedAt: e.at,
  }),
};

/**
 * The default `execute` actor: it never settles. The runner provides the real one (see
 * `src/actors/run-function.ts`); tests provide their own with `taskMachine.provide()`.
 */
const idleWork = fromCallback<TaskMachineEvent, unknown>(() => undefined);

/**
 * One task's lifecycle: `pending → running → completed | failed | cancelled`.
 *
 * - `running` invokes the `execute` actor with the task's work; leaving `running` for any reason
 *   stops that actor, which aborts the work's `AbortSignal`.
 * - When the task has a `timeout`, entering `running` schedules a delayed `timeout` event (through
 *   the actor system's clock, so fake timers and `SimulatedClock` drive it); with no timeout no
 *   timer exists at all. Leaving `running` cancels it.
 * - `cancel` ends `pending` and `running` in `cancelled`; it is ignored in final states, so a task
 *   reaches exactly one final state whatever races.
 *
 * The machine is pure: no I/O, timers of its own or clock reads. Times arrive in events.
 *
 * @example
 * ```ts
 * import { createActor, fromCallback } from 'xstate';
 * const machine = taskMachine.provide({
 *   actors: { execute: fromCallback(({ sendBack }) => { sendBack({ type: 'done', output: 42, at: 0 }); }) },
 * });
 * const actor = createActor(machine, { input: { taskId: 't1', name: 't1', timeout: undefined, metadata: {}, createdAt: 0, work: null } }).start();
 * actor.send({ type: 'start', at: 0 });
 * ```
 */
export const taskMachine = setup({
  types: {} as {
    context: TaskMachineContext;
    events: TaskMachineEvent;
    input: TaskMachineInput;
  },
  actors: { execute: idleWork },
  guards: {
    isValidProgress: ({ event }) =>
      event.type === 'progress' && event.fraction >= 0 && event.fraction <= 1,
  },
  delays: {
    timeout: ({ context }) => context.timeout ?? 0,
  },
  actions: {
    scheduleTimeout: enqueueActions(({ context, enqueue }) => {
      if (context.timeout !== undefined) enqueue.raise({ type: 'timeout' }, { id: TIMEOUT_ID, delay: 'timeout' });
    }),
    cancelTimeout: cancel(TIMEOUT_ID),
  },
}).createMachine({
  id: 'task',
  initial: 'pending',
  context: ({ input }) => initialTaskContext(input),
  states: {
    pending: {
      on: {
        start: { target: 'running', actions: assign(({ context, event }) => updates.start(context, event)) },
        cancel: { target: 'cancelled', actions: assign(({ context, event }) => updates.cancel(context, event)) },
      },
    },
    running: {
      entry: 'scheduleTimeout',
      exit: 'cancelTimeout',
      invoke: { id: 'execute', src: 'execute', input: ({ context }: { context: TaskMachineContext }) => context.work },
      on: {
        progress: {
          guard: 'isValidProgress',
          actions: assign(({ context, event }) => updates.progress(context, event)),
        },
        done: { target: 'completed', actions: assign(({ context, event }) => updates.done(context, event)) },
        error: { target: 'failed', actions: assign(({ context, event }) => updates.error(context, event)) },
        timeout: { target: 'failed', actions: assign(({ context }) => updates.timeout(context)) },
        cancel: { target: 'cancelled', actions: assign(({ context, event }) => updates.cancel(context, event)) },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});

/** A task actor: what `task.actor` returns. */
export type TaskActor = ActorRefFrom<typeof taskMachine>;
/** A task actor's snapshot: what `task.subscribe()` observers receive. */
export type TaskSnapshot = SnapshotFrom<typeof taskMachine>;

/** @internal Builds the initial context, as the machine's `context` factory does. */
export function initialTaskContext(input: TaskMachineInput): TaskMachineContext {
  // Every field listed in one order, so all contexts share one hidden class (spreading `input`
  // here cost a quarter of a no-op task's time).
  return {
    taskId: input.taskId,
    name: input.name,
    timeout: input.timeout,
    metadata: input.metadata,
    createdAt: input.createdAt,
    startedAt: undefined,
    completedAt: undefined,
    progress: 0,
    message: undefined,
    result: undefined,
    error: undefined,
    work: input.work,
  };
}

/**
 * @internal
 * The machine's transitions as a plain function, for tasks nobody observes: the runner keeps those
 * as compact records and only creates an actor when someone looks (`task.actor`, `subscribe`, an
 * inspector). Returns the next state and context, or `undefined` when the event is ignored.
 *
 * It must agree with {@link taskMachine} on every path; `test/machines/task-machine.test.ts`
 * walks all of them with `@xstate/graph` and compares.
 */
export function transitionTask(
  status: TaskStatus,
  context: TaskMachineContext,
  event: TaskMachineEvent,
): [TaskStatus, TaskMachineContext] | undefined {
  if (status === 'pending') {
    if (event.type === 'start') return ['running', updates.start(context, event)];
    if (event.type === 'cancel') return ['cancelled', updates.cancel(context, event)];
    return undefined;
  }
  if (status !== 'running') return undefined;
  switch (event.type) {
    case 'progress':
      return event.fraction >= 0 && event.fraction <= 1 ? ['running', updates.progress(context, event)] : undefined;
    case 'done':
      return ['completed', updates.done(context, event)];
    case 'error':
      return ['failed', updates.error(context, event)];
    case 'timeout':
      return ['failed', updates.timeout(context)];
    case 'cancel':
      return ['cancelled', updates.cancel(context, event)];
    default:
      return undefined;
  }
}
