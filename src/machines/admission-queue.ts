import { Fifo } from './fifo.js';
import { before, PriorityQueue } from './priority-queue.js';
import { RateWindow } from './rate-window.js';
import type { RateLimit } from './rate-window.js';
import type { TaskId } from '../types.js';

// The admission queue: who waits, in which order, and who may start now. These functions are the
// only code that changes the queue structures (the supervisor machine's actions and its in-place
// path both call them); the machine itself owns only modes and timers.

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
 * The queue's state, held in the supervisor's context. The structures are updated in place:
 * copying a 100,000-entry queue on every event is exactly the O(n) trap to avoid. The counters
 * `running`, `seq` and `now` are returned by {@link record} and {@link admit} for the caller to store.
 */
export interface AdmissionState {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  /** With `autoCleanup`, the most finished tasks kept; past it the oldest are removed first. */
  readonly maxFinishedTasks: number;
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
}

/** What happened to tasks since the last batch: the payload of the supervisor's `sync` event. */
export interface SyncFacts {
  readonly submitted: readonly QueuedTask[];
  /**
   * Tasks admitted but not started, given back by the runner (a 'started' listener paused it or
   * lowered its concurrency while a batch of admissions started): queued again with their `seq`,
   * and their slots freed.
   */
  readonly returned?: readonly QueuedTask[] | undefined;
  readonly withdrawn: readonly TaskId[];
  readonly settled: readonly TaskId[];
  readonly at: number;
}

/** @internal The id of the one cleanup timer (a delayed `sweep`). */
export const SWEEP_ID = 'supervisor.sweep';
/** @internal The id of the one rate-limit wake-up timer (a delayed `tick`). */
export const TICK_ID = 'supervisor.tick';

/** @internal The first queued task not withdrawn, dropping withdrawn ones on the way. */
function liveHead(queue: PriorityQueue<QueuedTask>, pending: Set<TaskId>): QueuedTask | undefined {
  let head = queue.peek();
  while (head !== undefined && !pending.has(head.taskId)) {
    queue.shift();
    head = queue.peek();
  }
  return head;
}

/** @internal The later of the state's time and `at`: time never runs backwards. */
export const later = (context: AdmissionState, at: number) => Math.max(context.now, at);

/** The part of xstate's `enqueue` the functions below use: how they ask for effects. */
export interface AdmissionEffects {
  emit(event: { type: 'admit'; taskIds: TaskId[] } | { type: 'remove'; taskIds: TaskId[] }): void;
  raise(event: { type: 'sweep' } | { type: 'tick'; at: number }, options: { id: string; delay: number }): void;
  cancel(id: string): void;
}

/**
 * Takes in a `sync` event: queues the submitted tasks, puts the returned ones back in their place,
 * drops the withdrawn ones and hands the finished ones to cleanup. Returns the counters that change.
 */
export function record(
  context: AdmissionState,
  event: SyncFacts,
  effects: AdmissionEffects,
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
    if (context.cleanupDelay === 0 || context.maxFinishedTasks === 0) {
      // Nothing to wait for, so no timer: remove them now. (A timer would also let finished tasks
      // pile up under a producer that never yields to the event loop.)
      effects.emit({ type: 'remove', taskIds: [...event.withdrawn, ...event.settled] });
    } else {
      const hadFinished = finished.size > 0;
      for (const taskId of event.withdrawn) finished.push({ taskId, at: event.at });
      for (const taskId of event.settled) finished.push({ taskId, at: event.at });
      if (finished.size > context.maxFinishedTasks) {
        // Over the cap: the oldest finished go now, before their delay is up.
        const removed: TaskId[] = [];
        while (finished.size > context.maxFinishedTasks) removed.push(finished.shift()!.taskId);
        effects.emit({ type: 'remove', taskIds: removed });
      }
      // One timer for all finished tasks: arm it when the first one arrives.
      if (!hadFinished) effects.raise({ type: 'sweep' }, { id: SWEEP_ID, delay: context.cleanupDelay });
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
export function admit(
  context: AdmissionState,
  running: number,
  now: number,
  effects: AdmissionEffects,
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
    effects.cancel(TICK_ID);
    effects.raise({ type: 'tick', at: wakeAt }, { id: TICK_ID, delay: Math.max(0, wakeAt - now) });
    changes = { running, wakeAt };
  }
  if (admitted.length > 0) effects.emit({ type: 'admit', taskIds: admitted });
  return changes;
}

/** @internal The initial queue state. */
export function createAdmissionState(input: {
  maxConcurrentTasks: number;
  autoCleanup: boolean;
  cleanupDelay: number;
  maxFinishedTasks?: number | undefined;
  rateLimit?: RateLimit | undefined;
  groupRateLimit?: RateLimit | undefined;
  now: number;
}): AdmissionState {
  return {
    maxConcurrentTasks: input.maxConcurrentTasks,
    autoCleanup: input.autoCleanup,
    cleanupDelay: input.cleanupDelay,
    maxFinishedTasks: input.maxFinishedTasks ?? Number.POSITIVE_INFINITY,
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
  };
}
