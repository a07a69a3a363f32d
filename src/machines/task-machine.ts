import { assign, enqueueActions, fromCallback, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { initialTaskContext, taskChart, taskGuards, taskTimers, taskUpdates } from './task-chart.js';
import type {
  TaskChartState,
  TaskGuardName,
  TaskMachineContext,
  TaskMachineEvent,
  TaskMachineInput,
  TaskTimerName,
  TaskUpdateName,
} from './task-chart.js';
import type { TaskStatus } from '../types.js';

export type { AttemptRecord, Backoff, TaskMachineContext, TaskMachineEvent, TaskMachineInput } from './task-chart.js';
export { backoffDelay } from './task-chart.js';
/** @internal The chart's stepper, re-exported under its older name. */
export { stepTask as transitionTask } from './task-chart.js';

/** What the `execute` actor is given: the task's work and which attempt to run. */
export interface ExecuteInput {
  readonly work: unknown;
  readonly attempt: number;
}

/**
 * The default `execute` actor: it never settles. Give `taskMachine` real work with
 * `taskMachine.provide()`; the runner's own task actors use the execute-less machine and attach
 * the work themselves (see the task driver).
 */
const idleWork = fromCallback<TaskMachineEvent, ExecuteInput>(() => undefined);

type Guard = (args: { context: TaskMachineContext; event: TaskMachineEvent }) => boolean;
type Update = ReturnType<typeof assign<TaskMachineContext, TaskMachineEvent, undefined, TaskMachineEvent, never>>;

/** Each chart guard as an xstate guard of the same name. */
const guards = Object.fromEntries(
  Object.entries(taskGuards).map(([name, guard]) => [name, (({ context, event }) => guard(context, event)) satisfies Guard]),
) as Record<TaskGuardName, Guard>;

/**
 * Each chart update as an `assign` action of the same name. It hands xstate the whole next context,
 * not the patch: xstate merges what it gets into a copy, and a patch (a few keys, a new shape each)
 * made an inspected task's steps about 13 % slower than a full object of the context's own shape.
 */
const updates = Object.fromEntries(
  Object.entries(taskUpdates).map(([name, update]) => [
    name,
    assign<TaskMachineContext, TaskMachineEvent, undefined, TaskMachineEvent, never>(({ context, event }) => ({
      ...context,
      ...update(context, event),
    })),
  ]),
) as Record<TaskUpdateName, Update>;

/** Each chart timer as a `schedule.<name>` and a `unschedule.<name>` action. */
const timerActions = Object.fromEntries(
  (Object.keys(taskTimers) as TaskTimerName[]).flatMap((name) => {
    const timer = taskTimers[name];
    return [
      [
        `schedule.${name}`,
        enqueueActions<TaskMachineContext, TaskMachineEvent, undefined, TaskMachineEvent, never, never, never, never, never>(
          ({ context, enqueue }) => {
            const delay = timer.delay(context);
            if (delay !== undefined) enqueue.raise(timer.event(context), { id: timer.id, delay });
          },
        ),
      ],
      // Cancels only what the entry scheduled (the delay reads fields that do not change within
      // the state), so a task without a timeout leaves `running` with no action at all, where a
      // bare `cancel` cost every inspected task a scheduler lookup and an inspection event. The
      // cancel that stays matters: a failed attempt's timeout must not fire in the next attempt.
      [
        `unschedule.${name}`,
        enqueueActions<TaskMachineContext, TaskMachineEvent, undefined, TaskMachineEvent, never, never, never, never, never>(
          ({ context, enqueue }) => {
            if (timer.delay(context) !== undefined) enqueue.cancel(timer.id);
          },
        ),
      ],
    ];
  }),
) as Record<`schedule.${TaskTimerName}` | `unschedule.${TaskTimerName}`, Update>;

/**
 * One chart state as an xstate state node config. With `invokeWork: false` a state's work is not
 * an invoked actor: whoever drives the machine attaches the work itself (the runner does), so a
 * task is one actor, not two.
 */
function stateNode(state: TaskChartState, invokeWork: boolean) {
  if (state.final) return { type: 'final' as const };
  const on: Record<string, { target?: string; guard?: string; actions: string }[]> = {};
  for (const [type, transitions] of Object.entries(state.on)) {
    on[type] = transitions!.map(({ target, guard, update }) => ({
      ...(target === undefined ? {} : { target }),
      ...(guard === undefined ? {} : { guard }),
      actions: update,
    }));
  }
  return {
    ...(state.after ? { entry: `schedule.${state.after}`, exit: `unschedule.${state.after}` } : {}),
    ...(state.invoke && invokeWork
      ? {
          invoke: {
            id: state.invoke,
            src: state.invoke,
            input: ({ context }: { context: TaskMachineContext }): ExecuteInput => ({ work: context.work, attempt: context.attempt }),
          },
        }
      : {}),
    on,
  };
}

/**
 * A state node as the machine's type sees it: a leaf (no `states`), so the snapshot's `value` is
 * the TaskStatus union. The chart fills it in; its property test checks what it does.
 */
interface LeafStateConfig {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  readonly type?: 'final';
  readonly on?: any;
  readonly entry?: any;
  readonly exit?: any;
  readonly invoke?: any;
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

const statesOf = (invokeWork: boolean) =>
  Object.fromEntries(
    (Object.keys(taskChart.states) as TaskStatus[]).map((status) => [status, stateNode(taskChart.states[status], invokeWork)]),
  ) as Record<TaskStatus, LeafStateConfig>;

/**
 * One task's lifecycle, built from {@link taskChart}: `pending → running → completed | failed |
 * cancelled | lost`, with `retrying` between attempts.
 *
 * - `running` invokes the `execute` actor with the task's work; leaving `running` for any reason
 *   stops that actor, which aborts the work's `AbortSignal`.
 * - When the task has a `timeout`, entering `running` schedules a delayed `timeout` event (through
 *   the actor system's clock, so fake timers and `SimulatedClock` drive it); with no timeout no
 *   timer exists at all. Leaving `running` cancels it.
 * - A failed attempt with attempts left (and not a `NonRetryableError`; a timeout only with
 *   `retryOnTimeout`) goes to `retrying`, which schedules a delayed `retry` event after the
 *   backoff and then runs the work again.
 * - `cancel` ends `pending`, `running` and `retrying` in `cancelled`; final states ignore every
 *   event, so a task reaches exactly one final state whatever races.
 *
 * The machine is pure: no I/O, timers of its own, clock reads or randomness. Times arrive in events.
 * Its guards (`isValidProgress`, `canRetryError`, `canRetryTimeout`), actions (one per chart update)
 * and the `execute` actor are named, so `taskMachine.provide()` can swap them.
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
const taskSetup = setup({
  types: {} as {
    context: TaskMachineContext;
    events: TaskMachineEvent;
    input: TaskMachineInput;
  },
  actors: { execute: idleWork },
  guards,
  actions: { ...updates, ...timerActions },
});

export const taskMachine = taskSetup.createMachine({
  id: 'task',
  initial: taskChart.initial,
  context: ({ input }) => initialTaskContext(input),
  states: statesOf(true),
});

/**
 * @internal
 * {@link taskMachine} without the `execute` child: the same chart, states, guards, actions and
 * timers, but entering `running` invokes nothing — the runner attaches the task's work itself and
 * sends the work's events to this actor. One actor per task instead of two.
 */
export const taskMachineWithoutExecute = taskSetup.createMachine({
  id: 'task',
  initial: taskChart.initial,
  context: ({ input }) => initialTaskContext(input),
  states: statesOf(false),
});

/** A task actor: what `task.actor` returns. */
export type TaskActor = ActorRefFrom<typeof taskMachine>;
/** A task actor's snapshot: what `task.subscribe()` observers receive. */
export type TaskSnapshot = SnapshotFrom<typeof taskMachine>;
