import { assign, enqueueActions, setup } from 'xstate';
import type { ActorRefFrom } from 'xstate';
import { admit, createAdmissionState, later, record, SWEEP_ID, TICK_ID } from './admission-queue.js';
import type { AdmissionEffects, AdmissionState, QueuedTask } from './admission-queue.js';
import type { RateLimit } from './rate-window.js';

export type { QueuedTask } from './admission-queue.js';

const DRAIN_ID = 'supervisor.drain';

/**
 * The supervisor's state. The queue structures are owned by the supervisor actor and updated in
 * place: copying a 100,000-entry queue on every event is exactly the O(n) trap to avoid, so each
 * transition returns a new context object that shares them. The counters `running`, `seq` and `now`
 * are `assign`ed by the machine, except that a runner nobody observes writes them in place when it
 * applies a `sync` without the actor (see {@link syncInPlace}).
 */
export interface SupervisorContext extends AdmissionState {
  /** How long `draining` waits before asking the runner to cancel what still runs. */
  readonly drainTimeout: number | undefined;
}

/** What the supervisor is created with. */
export interface SupervisorInput {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  /** @defaultValue Infinity */
  readonly maxFinishedTasks?: number | undefined;
  readonly rateLimit?: RateLimit | undefined;
  readonly groupRateLimit?: RateLimit | undefined;
  /** Epoch ms at creation. */
  readonly now: number;
}

/**
 * Commands the supervisor accepts.
 *
 * `sync` carries everything that happened to tasks since the last one, in batches: tasks
 * `submitted` (queue them), `withdrawn` (ended while pending: drop them) and `settled` (ended
 * after being admitted: free their slots), all at time `at`. The runner sends at most one per
 * microtask, which is what keeps the supervisor's cost per task low.
 */
export type SupervisorEvent =
  | {
      type: 'sync';
      submitted: readonly QueuedTask[];
      /**
       * Tasks admitted but not started, given back (a 'started' listener paused the runner or
       * lowered its concurrency): queued again with their `seq`, and their slots freed.
       */
      returned?: readonly QueuedTask[];
      /** The entries of tasks that ended without a slot (see `SyncFacts`). */
      withdrawn: readonly QueuedTask[];
      /** The entries of tasks that ended after being admitted: their slots are free. */
      settled: readonly QueuedTask[];
      at: number;
    }
  | { type: 'pause'; at: number }
  | { type: 'resume'; at: number }
  | { type: 'configure'; maxConcurrentTasks: number; at: number }
  | { type: 'drain'; timeout: number | undefined; at: number }
  | { type: 'stop' }
  // Raised by the supervisor itself, on its clock:
  | { type: 'sweep' }
  | { type: 'tick'; at: number }
  | { type: 'drainTimeout' };

/** What the supervisor asks the runner to do. */
export type SupervisorEmitted =
  { type: 'admit'; tasks: QueuedTask[] } | { type: 'remove'; tasks: QueuedTask[] } | { type: 'drainTimedOut' };

/** The supervisor's snapshot, as the in-place path below reads it. */
interface SupervisorSnapshotLike {
  readonly status: string;
  readonly value: unknown;
  readonly context: SupervisorContext;
}

/** @internal What the supervisor emits, as plain callbacks (the runner's handlers for `admit` and `remove`). */
export interface SupervisorOutbox {
  admit(tasks: QueuedTask[]): void;
  remove(tasks: QueuedTask[]): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The effects {@link syncInPlace} gives `record` and `admit`: one object for every call (the step
 * runs no user code, so nothing re-enters while it is in use), where a fresh one with three closures
 * cost four allocations per completed task.
 */
const inPlaceEffects: AdmissionEffects & { admitted: QueuedTask[] | undefined; removed: QueuedTask[] | undefined } = {
  admitted: undefined,
  removed: undefined,
  emit(emitted) {
    if (emitted.type === 'admit') inPlaceEffects.admitted = emitted.tasks;
    else inPlaceEffects.removed = emitted.tasks;
  },
  raise() {
    throw new Error('tasklane internal error: the supervisor raised an event on its in-place path');
  },
  cancel() {
    throw new Error('tasklane internal error: the supervisor cancelled an event on its in-place path');
  },
};

/**
 * @internal
 * Applies a `sync` event to the supervisor's current snapshot in place, with the same `record` and
 * `admit` functions the machine's `syncAndAdmit` action runs, when the step would need nothing of
 * xstate but those: the supervisor is `open` and active, no rate limit can hold a task back (so no
 * `tick` is raised), and no `sweep` needs arming (cleanup is off, immediate, or already armed). It
 * returns `false`, and touches nothing, otherwise: send the event to the actor then.
 *
 * Why: this event is the only one a supervisor gets per task, and a full xstate macrostep for it
 * costs ~8 KB of garbage and several microseconds, which a workload of many short tasks pays in
 * wall time (bench W3). The runner uses it whenever no inspector is attached (reading
 * `runner.supervisor` changes nothing): the actor's snapshot stays true, since the counters are
 * written into its current context; its subscribers see the steps that go through the actor. Emitted
 * effects reach `outbox` after the context is updated, as the actor's deferred `emit`s would.
 */
export function syncInPlace(
  snapshot: SupervisorSnapshotLike,
  event: Extract<SupervisorEvent, { type: 'sync' }>,
  outbox: SupervisorOutbox,
): boolean {
  const context = snapshot.context;
  if (snapshot.status !== 'active' || snapshot.value !== 'open') return false;
  if (context.rateWindow !== undefined || context.groupRateLimit !== undefined) return false;
  const finishing = event.withdrawn.length + event.settled.length > 0;
  if (finishing && context.autoCleanup && context.cleanupDelay > 0 && context.finished.size === 0) return false;
  const effects = inPlaceEffects;
  const recorded = record(context, event, effects);
  const changes = admit(context, recorded.running, recorded.now, effects);
  const target = context as Mutable<SupervisorContext>;
  target.running = changes ? changes.running : recorded.running;
  target.now = recorded.now;
  target.seq = recorded.seq;
  // Taken out before any runner code runs: a handler below may re-enter this function.
  const { admitted, removed } = effects;
  effects.admitted = effects.removed = undefined;
  // In the order the machine emits them: `remove` from `record`, then `admit`.
  if (removed) outbox.remove(removed);
  if (admitted) outbox.admit(admitted);
  return true;
}

/**
 * The queue owner. In `open` it admits pending tasks — highest priority first, FIFO within a
 * priority — while fewer than `maxConcurrentTasks` run and the rate limits allow; `paused` and
 * `draining` admit nothing; with `autoCleanup` it removes finished tasks `cleanupDelay` ms after
 * they finish, in every state.
 *
 * Every task costs O(1) to queue and to admit in the common case (see `PriorityQueue`). Waiting is
 * done with delayed events on the actor's clock: one `sweep` for all finished tasks (armed for the
 * oldest), one `tick` for when a rate limit frees up, one `drainTimeout`. Effects leave the machine
 * as emitted events (`admit`, `remove`, `drainTimedOut`) that the runner acts on.
 */
export const supervisorMachine = setup({
  types: {} as {
    context: SupervisorContext;
    events: SupervisorEvent;
    input: SupervisorInput;
    emitted: SupervisorEmitted;
  },
  delays: {
    // Until the oldest finished task has been visible for `cleanupDelay` ms.
    untilOldestExpires: ({ context }) => {
      const oldest = context.finished.peek();
      return oldest === undefined ? 0 : Math.max(0, (oldest.finishedAt ?? 0) + context.cleanupDelay - context.now);
    },
  },
  actions: {
    sync: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'sync') enqueue.assign(record(context, event, enqueue));
    }),
    admit: enqueueActions(({ context, enqueue }) => {
      const changes = admit(context, context.running, context.now, enqueue);
      if (changes) enqueue.assign(changes);
    }),
    // `sync` then `admit` as one action with one `assign`: it runs once per batch of task facts,
    // and each `assign` copies the context and clones the snapshot.
    syncAndAdmit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'sync') return;
      const recorded = record(context, event, enqueue);
      const changes = admit(context, recorded.running, recorded.now, enqueue);
      enqueue.assign(changes ? { ...recorded, ...changes } : recorded);
    }),
    sweep: enqueueActions(({ context, enqueue }) => {
      const { finished, cleanupDelay } = context;
      const oldest = finished.peek();
      if (oldest === undefined) return;
      // This event was scheduled for the moment the oldest entry expires.
      const now = Math.max(context.now, (oldest.finishedAt ?? 0) + cleanupDelay);
      const removed: QueuedTask[] = [];
      for (let next = finished.peek(); next !== undefined && (next.finishedAt ?? 0) + cleanupDelay <= now; next = finished.peek()) {
        finished.shift();
        removed.push(next);
      }
      enqueue.assign({ now });
      if (finished.size > 0) enqueue.raise({ type: 'sweep' }, { id: SWEEP_ID, delay: 'untilOldestExpires' });
      enqueue.emit({ type: 'remove', tasks: removed });
    }),
    noteTime: assign(({ context, event }) => ('at' in event ? { now: later(context, event.at) } : {})),
    clearWake: assign({ wakeAt: undefined }),
    configure: assign(({ event }) => (event.type === 'configure' ? { maxConcurrentTasks: event.maxConcurrentTasks } : {})),
    armDrainTimeout: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'drain' && event.timeout !== undefined) {
        enqueue.assign({ drainTimeout: event.timeout });
        enqueue.raise({ type: 'drainTimeout' }, { id: DRAIN_ID, delay: event.timeout });
      }
    }),
    announceDrainTimeout: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'drainTimedOut' })),
    cancelTimers: enqueueActions(({ enqueue }) => {
      enqueue.cancel(SWEEP_ID);
      enqueue.cancel(TICK_ID);
      enqueue.cancel(DRAIN_ID);
    }),
    clearQueues: ({ context }) => {
      context.pending.size = 0;
      context.queues.clear();
      context.finished.clear();
    },
  },
}).createMachine({
  id: 'supervisor',
  initial: 'open',
  context: ({ input }) => ({ ...createAdmissionState(input), drainTimeout: undefined }),
  on: {
    sweep: { actions: 'sweep' },
    configure: { actions: ['noteTime', 'configure'] },
    stop: { target: '.stopped' },
  },
  states: {
    open: {
      on: {
        sync: { actions: 'syncAndAdmit' },
        tick: { actions: ['noteTime', 'clearWake', 'admit'] },
        configure: { actions: ['noteTime', 'configure', 'admit'] },
        pause: { target: 'paused', actions: 'noteTime' },
        drain: { target: 'draining', actions: ['noteTime', 'armDrainTimeout'] },
      },
    },
    paused: {
      on: {
        sync: { actions: 'sync' },
        tick: { actions: ['noteTime', 'clearWake'] },
        resume: { target: 'open', actions: ['noteTime', 'admit'] },
        drain: { target: 'draining', actions: ['noteTime', 'armDrainTimeout'] },
      },
    },
    draining: {
      on: {
        sync: { actions: 'sync' },
        drainTimeout: { actions: 'announceDrainTimeout' },
      },
    },
    stopped: {
      type: 'final',
      entry: ['cancelTimers', 'clearQueues'],
    },
  },
});

/** The supervisor actor a runner owns. */
export type SupervisorActor = ActorRefFrom<typeof supervisorMachine>;
export type { RateLimit };
