import { assign, enqueueActions, setup } from 'xstate';
import type { ActorRefFrom } from 'xstate';
import type { TaskId } from '../types.js';
import { Fifo } from './fifo.js';
import { before, PriorityQueue } from './priority-queue.js';
import { RateWindow } from './rate-window.js';
import type { RateLimit } from './rate-window.js';

/** A task waiting for a slot. `seq` is given by the supervisor (FIFO within a priority). */
export interface QueuedTask {
  readonly taskId: TaskId;
  /** Higher first. */
  readonly priority: number;
  /** The rate-limit group (e.g. a provider), if any. */
  readonly group: string | undefined;
  seq: number;
}

/**
 * The supervisor's state. The queue structures are owned by the supervisor actor and updated in
 * place: copying a 100,000-entry queue on every event is exactly the O(n) trap to avoid, so each
 * transition returns a new context object that shares them. The counters `running`, `seq` and `now`
 * are `assign`ed by the machine, except that a runner nobody observes writes them in place when it
 * applies a `sync` without the actor (see {@link syncInPlace}).
 */
export interface SupervisorContext {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  /** One priority queue per rate-limit group (`''` for tasks without a group). */
  readonly queues: Map<string, PriorityQueue<QueuedTask>>;
  /** The ids still waiting for a slot. Withdrawn ids stay in `queues` and are skipped when reached. */
  readonly pending: Set<TaskId>;
  /** How many admitted tasks have not settled. */
  readonly running: number;
  /** Finished tasks awaiting removal, oldest first (they finish in time order). */
  readonly finished: Fifo<{ readonly taskId: TaskId; readonly at: number }>;
  /** The time of the last event, epoch ms: the machine's only notion of now. */
  readonly now: number;
  /** The next `seq` to give. */
  readonly seq: number;
  /** Starts allowed per window across all tasks, if limited. */
  readonly rateWindow: RateWindow | undefined;
  /** The limit each group gets on its own, if any. */
  readonly groupRateLimit: RateLimit | undefined;
  readonly groupWindows: Map<string, RateWindow>;
  /** When a rate limit next lets a start through, while one holds tasks back. */
  readonly wakeAt: number | undefined;
  /** How long `draining` waits before asking the runner to cancel what still runs. */
  readonly drainTimeout: number | undefined;
}

/** What the supervisor is created with. */
export interface SupervisorInput {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
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
      withdrawn: readonly TaskId[];
      settled: readonly TaskId[];
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
  | { type: 'admit'; taskIds: TaskId[] }
  | { type: 'remove'; taskIds: TaskId[] }
  | { type: 'drainTimedOut' };

const SWEEP_ID = 'supervisor.sweep';
const TICK_ID = 'supervisor.tick';
const DRAIN_ID = 'supervisor.drain';

/** The first queued task not withdrawn, dropping withdrawn ones on the way. */
function liveHead(queue: PriorityQueue<QueuedTask>, pending: Set<TaskId>): QueuedTask | undefined {
  let head = queue.peek();
  while (head !== undefined && !pending.has(head.taskId)) {
    queue.shift();
    head = queue.peek();
  }
  return head;
}

const later = (context: SupervisorContext, at: number) => Math.max(context.now, at);

/** The part of xstate's `enqueue` the actions below use. */
interface Enqueue {
  emit(event: SupervisorEmitted): void;
  raise(event: SupervisorEvent, options: { id: string; delay: number }): void;
  cancel(id: string): void;
}

/**
 * Takes in a `sync` event: queues the submitted tasks, drops the withdrawn ones and hands the
 * finished ones to cleanup. Returns the counters that change.
 */
function record(
  context: SupervisorContext,
  event: Extract<SupervisorEvent, { type: 'sync' }>,
  enqueue: Enqueue,
): { running: number; now: number; seq: number } {
  const { queues, pending, finished } = context;
  let seq = context.seq;
  for (const entry of event.submitted) {
    entry.seq = seq++;
    const key = entry.group ?? '';
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = new PriorityQueue<QueuedTask>()));
    queue.push(entry);
    pending.add(entry.taskId);
  }
  const returned = event.returned ?? [];
  for (const entry of returned) {
    const key = entry.group ?? '';
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = new PriorityQueue<QueuedTask>()));
    queue.push(entry); // keeps its `seq`, so it goes back to its place
    pending.add(entry.taskId);
  }
  for (const taskId of event.withdrawn) pending.delete(taskId);
  if (context.autoCleanup && event.withdrawn.length + event.settled.length > 0) {
    if (context.cleanupDelay === 0) {
      // Nothing to wait for, so no timer: remove them now. (A timer would also let finished tasks
      // pile up under a producer that never yields to the event loop.)
      enqueue.emit({ type: 'remove', taskIds: [...event.withdrawn, ...event.settled] });
    } else {
      const hadFinished = finished.size > 0;
      for (const taskId of event.withdrawn) finished.push({ taskId, at: event.at });
      for (const taskId of event.settled) finished.push({ taskId, at: event.at });
      // One timer for all finished tasks: arm it when the first one arrives.
      if (!hadFinished) enqueue.raise({ type: 'sweep' }, { id: SWEEP_ID, delay: context.cleanupDelay });
    }
  }
  return { running: context.running - event.settled.length - returned.length, now: later(context, event.at), seq };
}

/**
 * Admits pending tasks — the best head among the queues a rate limit lets start one — while fewer
 * than `maxConcurrentTasks` run, given `running` and `now` (a `sync` in the same step may have
 * changed them). Emits `admit`; when a rate limit holds tasks back, schedules one `tick` for when
 * it frees up. Returns the context fields that change, if any.
 */
function admit(
  context: SupervisorContext,
  running: number,
  now: number,
  enqueue: Enqueue,
): { running: number; wakeAt?: number } | undefined {
  const { queues, pending, rateWindow, groupRateLimit, groupWindows } = context;
  const runningBefore = running;
  let wakeAt: number | undefined;
  const admitted: TaskId[] = [];
  while (running < context.maxConcurrentTasks && pending.size > 0) {
    if (rateWindow && !rateWindow.allows(now)) {
      wakeAt = rateWindow.freesAt(now);
      break;
    }
    // The best head among the queues allowed to start one: the ungrouped queue, and each group
    // whose own limit allows it. Groups are few (one per provider, say), so this scan is
    // O(groups); each queue operation is O(log n). Without groups it is one peek.
    let best: QueuedTask | undefined;
    let bestKey = '';
    if (queues.size === 1) {
      best = liveHead(queues.get('')!, pending);
    } else {
      for (const [key, queue] of queues) {
        const head = liveHead(queue, pending);
        if (head === undefined) {
          if (key !== '') queues.delete(key);
          continue;
        }
        const window = key === '' ? undefined : groupWindows.get(key);
        if (window && !window.allows(now)) {
          const frees = window.freesAt(now);
          wakeAt = wakeAt === undefined ? frees : Math.min(wakeAt, frees);
          continue;
        }
        if (best === undefined || before(head, best)) {
          best = head;
          bestKey = key;
        }
      }
    }
    const bestQueue = best === undefined ? undefined : queues.get(bestKey);
    if (best === undefined || bestQueue === undefined) break;
    bestQueue.shift();
    pending.delete(best.taskId);
    running += 1;
    admitted.push(best.taskId);
    rateWindow?.record(now);
    if (bestKey !== '' && groupRateLimit) {
      let window = groupWindows.get(bestKey);
      if (!window) groupWindows.set(bestKey, (window = new RateWindow(groupRateLimit)));
      window.record(now);
    }
  }
  let changes: { running: number; wakeAt?: number } | undefined = running === runningBefore ? undefined : { running };
  // Wake up when a rate limit frees a start, if one is holding tasks back.
  if (pending.size > 0 && running < context.maxConcurrentTasks && wakeAt !== undefined && wakeAt !== context.wakeAt) {
    enqueue.cancel(TICK_ID);
    enqueue.raise({ type: 'tick', at: wakeAt }, { id: TICK_ID, delay: Math.max(0, wakeAt - now) });
    changes = { running, wakeAt };
  }
  if (admitted.length > 0) enqueue.emit({ type: 'admit', taskIds: admitted });
  return changes;
}

/** The supervisor's snapshot, as the in-place path below reads it. */
interface SupervisorSnapshotLike {
  readonly status: string;
  readonly value: unknown;
  readonly context: SupervisorContext;
}

/** @internal What the supervisor emits, as plain callbacks (the runner's handlers for `admit` and `remove`). */
export interface SupervisorOutbox {
  admit(taskIds: TaskId[]): void;
  remove(taskIds: TaskId[]): void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

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
 * wall time (bench W3). The runner uses it only while nothing can observe the actor (no inspector,
 * nobody has read `runner.supervisor`), so no subscriber or inspector misses a snapshot; the
 * actor's snapshot stays true, since the counters are written into its current context. Emitted
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
  let admitted: TaskId[] | undefined;
  let removed: TaskId[] | undefined;
  const enqueue: Enqueue = {
    emit(emitted) {
      if (emitted.type === 'admit') admitted = emitted.taskIds;
      else if (emitted.type === 'remove') removed = emitted.taskIds;
    },
    raise() {
      throw new Error('tasklane internal error: the supervisor raised an event on its in-place path');
    },
    cancel() {
      throw new Error('tasklane internal error: the supervisor cancelled an event on its in-place path');
    },
  };
  const recorded = record(context, event, enqueue);
  const changes = admit(context, recorded.running, recorded.now, enqueue);
  const target = context as Mutable<SupervisorContext>;
  target.running = changes ? changes.running : recorded.running;
  target.now = recorded.now;
  target.seq = recorded.seq;
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
 * Every task costs O(log n) at most, whatever the number of tasks. Waiting is done with delayed
 * events on the actor's clock: one `sweep` for all finished tasks (armed for the oldest), one
 * `tick` for when a rate limit frees up, one `drainTimeout`. Effects leave the machine as emitted
 * events (`admit`, `remove`, `drainTimedOut`) that the runner acts on.
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
      return oldest === undefined ? 0 : Math.max(0, oldest.at + context.cleanupDelay - context.now);
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
      const now = Math.max(context.now, oldest.at + cleanupDelay);
      const removed: TaskId[] = [];
      for (let next = finished.peek(); next !== undefined && next.at + cleanupDelay <= now; next = finished.peek()) {
        finished.shift();
        removed.push(next.taskId);
      }
      enqueue.assign({ now });
      if (finished.size > 0) enqueue.raise({ type: 'sweep' }, { id: SWEEP_ID, delay: 'untilOldestExpires' });
      enqueue.emit({ type: 'remove', taskIds: removed });
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
      context.pending.clear();
      context.queues.clear();
      context.finished.clear();
    },
  },
}).createMachine({
  id: 'supervisor',
  initial: 'open',
  context: ({ input }) => ({
    maxConcurrentTasks: input.maxConcurrentTasks,
    autoCleanup: input.autoCleanup,
    cleanupDelay: input.cleanupDelay,
    queues: new Map([['', new PriorityQueue<QueuedTask>()]]),
    pending: new Set<TaskId>(),
    running: 0,
    finished: new Fifo<{ taskId: TaskId; at: number }>(),
    now: input.now,
    seq: 0,
    rateWindow: input.rateLimit ? new RateWindow(input.rateLimit) : undefined,
    groupRateLimit: input.groupRateLimit,
    groupWindows: new Map<string, RateWindow>(),
    wakeAt: undefined,
    drainTimeout: undefined,
  }),
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
