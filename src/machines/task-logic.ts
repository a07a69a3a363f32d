import type { AnyActorScope, EventObject, InspectionEvent } from 'xstate';
import { armedTimer, stepTask, taskChart } from './task-chart.js';
import type { TaskMachineEvent, TaskTimer } from './task-chart.js';
import { taskMachineWithoutExecute } from './task-machine.js';
import type { TaskSnapshot } from './task-machine.js';
import { createSnapshotSource } from './task-snapshot.js';

/**
 * @internal
 * The logic of the runner's task actors: {@link taskMachineWithoutExecute} itself (its prototype,
 * so `config`, `root`, `definition`, `getTransitionData`, `resolveState`, `getInitialSnapshot`
 * and `instanceof StateMachine` are the machine's), except that a step is the chart's
 * {@link stepTask} instead of xstate's general macrostep.
 *
 * Why: xstate's macrostep works for any statechart (entry and exit sets, history, eventless
 * transitions, conflict removal), and for this flat chart of seven states that general work was
 * most of what an inspected task cost: 41 KB allocated and two thirds of the time per task (bench
 * W7 inspected). The chart's stepper does the same step for this chart in one lookup.
 *
 * What an observer sees is what xstate's own machine shows, event for event: snapshots are the
 * machine's own (resolved per state once, see {@link createSnapshotSource}); entering and leaving a
 * state with a timer schedules and cancels the delayed event on the actor system's scheduler (so
 * the system's clock drives it), through the actor's `actionExecutor`, which reports each as an
 * `@xstate.action` as xstate does; each event is reported as an `@xstate.microstep` with the
 * transitions xstate selects. `test/machines/task-logic.test.ts` runs random event sequences
 * through this and through the machine and requires the same snapshots, scheduled timers and
 * inspection events.
 */
export const taskActorLogic = Object.create(taskMachineWithoutExecute) as typeof taskMachineWithoutExecute;

const machine = taskMachineWithoutExecute;
/** Genuine machine snapshots, one template per state. */
export const taskSnapshotOf = createSnapshotSource(machine);

/** The event types the chart knows; anything else is ignored without a lookup into the chart. */
const chartEvents: ReadonlySet<string> = new Set(Object.values(taskChart.states).flatMap((state) => Object.keys(state.on)));

/**
 * How xstate reports a microstep to the system's inspectors (it adds `rootId`); not part of its
 * public types, so it is looked up and skipped if absent.
 */
type SendInspectionEvent = (event: Omit<Extract<InspectionEvent, { type: '@xstate.microstep' }>, 'rootId'>) => void;

function reportMicrostep(scope: AnyActorScope, event: EventObject, snapshot: TaskSnapshot, before: TaskSnapshot, stepped: boolean): void {
  const send = (scope.system as { _sendInspectionEvent?: SendInspectionEvent })._sendInspectionEvent;
  if (send === undefined) return;
  send({
    type: '@xstate.microstep',
    actorRef: scope.self,
    event,
    snapshot,
    // The transitions xstate itself selects for this event: its own record of the step.
    _transitions: stepped ? machine.getTransitionData(before, event as TaskMachineEvent) : [],
  });
}

/** Runs a timer action through the actor's executor, as xstate runs its `raise` and `cancel`. */
function execute(scope: AnyActorScope, type: string, params: object, exec: () => void, snapshot: TaskSnapshot, event: EventObject): void {
  scope.actionExecutor({
    type,
    info: { context: snapshot.context, event, self: scope.self, system: scope.system },
    params,
    // Deferred, as xstate defers it: the scheduler acts once the new snapshot is the actor's.
    exec: () => scope.defer(exec),
  });
}

function cancelTimer(scope: AnyActorScope, timer: TaskTimer, snapshot: TaskSnapshot, event: EventObject): void {
  const sendId = timer.id;
  execute(scope, 'xstate.cancel', { sendId }, () => scope.system.scheduler.cancel(scope.self, sendId), snapshot, event);
}

function scheduleTimer(scope: AnyActorScope, timer: TaskTimer, snapshot: TaskSnapshot, event: EventObject): void {
  const raised = timer.event(snapshot.context);
  const delay = timer.delay(snapshot.context)!;
  const id = timer.id;
  execute(
    scope,
    'xstate.raise',
    { event: raised, id, delay },
    () => scope.system.scheduler.schedule(scope.self, scope.self, raised, delay, id),
    snapshot,
    event,
  );
}

taskActorLogic.transition = function transition(snapshot, event, scope) {
  const before = snapshot as TaskSnapshot;
  const type = (event as EventObject).type;
  if (type === 'xstate.stop') {
    const stopped = { ...before, status: 'stopped' } as TaskSnapshot;
    reportMicrostep(scope, event, stopped, before, false);
    return stopped;
  }
  const from = before.value;
  const next = chartEvents.has(type) ? stepTask(from, before.context, event) : undefined;
  if (next === undefined) {
    // An error from a child actor that no transition handles ends the actor in `error` (xstate's
    // rule); this chart has no children, so only an event sent from outside can do it.
    if (type.startsWith('xstate.error.actor')) {
      const failed = { ...before, status: 'error', error: (event as { error?: unknown }).error } as unknown as TaskSnapshot;
      reportMicrostep(scope, event, failed, before, false);
      return failed;
    }
    reportMicrostep(scope, event, before, before, false);
    return before;
  }
  const [to, context] = next;
  const after = taskSnapshotOf(to, context);
  if (to !== from) {
    // Exit, then entry, as the machine's `unschedule.<timer>` and `schedule.<timer>` actions do.
    const left = armedTimer(from, before.context);
    if (left !== undefined) cancelTimer(scope, left, before, event);
    const entered = armedTimer(to, context);
    if (entered !== undefined) scheduleTimer(scope, entered, after, event);
  }
  reportMicrostep(scope, event, after, before, true);
  return after;
};

/**
 * A snapshot made by {@link taskSnapshotOf} is already what `restoreSnapshot` would build from it
 * (no children to revive, no actor refs in the context); anything else goes to the machine's own.
 */
taskActorLogic.restoreSnapshot = function restoreSnapshot(snapshot, scope) {
  const own = snapshot as Partial<TaskSnapshot>;
  if (own.machine === machine && Array.isArray(own._nodes) && own.children !== undefined && Object.keys(own.children).length === 0)
    return own as TaskSnapshot;
  return machine.restoreSnapshot(snapshot, scope);
};
