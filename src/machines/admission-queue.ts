import { Fifo } from './fifo.js';
import { before, PriorityQueue } from './priority-queue.js';
import { RateWindow } from './rate-window.js';
import type { RateLimit } from './rate-window.js';
import type { TaskId } from '../types.js';

// The admission queue: who waits, in which order, and who may start now. These functions are the
// only code that changes the queue structures (the supervisor machine's actions and its in-place
// path both call them); the machine itself owns only modes and timers.

/**
 * A task as the supervisor knows it, from its submission until its removal: the runner gives the
 * same object in every fact about the task (submitted, returned, withdrawn, settled) and gets it
 * back in `admit` and `remove`, so neither side looks a task up by id. `seq` is given by the
 * supervisor (FIFO within a priority).
 */
export interface QueuedTask {
  readonly taskId: TaskId;
  /** Higher first. */
  readonly priority: number;
  /** The rate-limit group (e.g. a provider), if any. */
  readonly group: string | undefined;
  seq: number;
  /**
   * Where the entry is, written by the queue: `queued` (waiting), `admitted` (given a slot) or
   * `withdrawn` (its task ended before it was admitted; skipped when the queue reaches it). Absent
   * on an entry the queue has not seen yet.
   */
  state?: 'queued' | 'admitted' | 'withdrawn' | undefined;
  /** When the task finished, once it has (epoch ms, for cleanup); written by the queue. */
  finishedAt?: number | undefined;
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
  /**
   * How many entries still wait for a slot (`size`; updated in place like the queues). Withdrawn
   * entries stay in `queues`, marked, and are dropped when reached: a count and a mark on the entry
   * cost no hashing, where a set of waiting ids cost two hash operations per task.
   */
  readonly pending: { size: number };
  /** How many admitted tasks have not settled. */
  readonly running: number;
  /** Finished tasks awaiting removal, oldest first (they finish in time order; see `finishedAt`). */
  readonly finished: Fifo<QueuedTask>;
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
  /**
   * Tasks that ended without a slot (cancelled while queued, or found finished): their entries, as
   * submitted. A waiting entry is never admitted after this; every one goes to cleanup.
   */
  readonly withdrawn: readonly QueuedTask[];
  /** Tasks that ended after being admitted: their slots are free. */
  readonly settled: readonly QueuedTask[];
  readonly at: number;
}

/** @internal The id of the one cleanup timer (a delayed `sweep`). */
export const SWEEP_ID = 'supervisor.sweep';
/** @internal The id of the one rate-limit wake-up timer (a delayed `tick`). */
export const TICK_ID = 'supervisor.tick';

/** @internal The first queued task not withdrawn, dropping withdrawn ones on the way. */
function liveHead(queue: PriorityQueue<QueuedTask>): QueuedTask | undefined {
  let head = queue.peek();
  while (head !== undefined && head.state !== 'queued') {
    queue.shift();
    head = queue.peek();
  }
  return head;
}

/** @internal The later of the state's time and `at`: time never runs backwards. */
export const later = (context: AdmissionState, at: number) => Math.max(context.now, at);

/** The part of xstate's `enqueue` the functions below use: how they ask for effects. */
export interface AdmissionEffects {
  emit(event: { type: 'admit'; tasks: QueuedTask[] } | { type: 'remove'; tasks: QueuedTask[] }): void;
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
    entry.state = 'queued';
    const key = entry.group ?? '';
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = new PriorityQueue<QueuedTask>()));
    queue.push(entry);
  }
  pending.size += event.submitted.length;
  const returned = event.returned ?? [];
  for (const entry of returned) {
    const key = entry.group ?? '';
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = new PriorityQueue<QueuedTask>()));
    queue.push(entry); // keeps its `seq`, so it goes back to its place
    entry.state = 'queued';
    pending.size += 1;
  }
  for (const entry of event.withdrawn) {
    if (entry.state === 'queued') pending.size -= 1;
    entry.state = 'withdrawn';
  }
  if (context.autoCleanup && event.withdrawn.length + event.settled.length > 0) {
    if (context.cleanupDelay === 0 || context.maxFinishedTasks === 0) {
      // Nothing to wait for, so no timer: remove them now. (A timer would also let finished tasks
      // pile up under a producer that never yields to the event loop.)
      effects.emit({ type: 'remove', tasks: [...event.withdrawn, ...event.settled] });
    } else {
      const hadFinished = finished.size > 0;
      for (const entry of event.withdrawn) {
        entry.finishedAt = event.at;
        finished.push(entry);
      }
      for (const entry of event.settled) {
        entry.finishedAt = event.at;
        finished.push(entry);
      }
      if (finished.size > context.maxFinishedTasks) {
        // Over the cap: the oldest finished go now, before their delay is up.
        const removed: QueuedTask[] = [];
        while (finished.size > context.maxFinishedTasks) removed.push(finished.shift()!);
        effects.emit({ type: 'remove', tasks: removed });
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
  const admitted: QueuedTask[] = [];
  while (running < context.maxConcurrentTasks && pending.size > 0) {
    if (rateWindow && !rateWindow.allows(now)) {
      wakeAt = rateWindow.freesAt(now);
      break;
    }
    // The best head among the queues allowed to start one: the ungrouped queue, and each group
    // whose own limit allows it. Groups are few (one per provider, say), so this scan is
    // O(groups); each queue operation is O(1) for a priority in use. Without groups it is one peek.
    let best: QueuedTask | undefined;
    let bestKey = '';
    if (queues.size === 1) {
      best = liveHead(queues.get('')!);
    } else {
      for (const [key, queue] of queues) {
        const head = liveHead(queue);
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
    best.state = 'admitted';
    pending.size -= 1;
    running += 1;
    admitted.push(best);
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
  if (admitted.length > 0) effects.emit({ type: 'admit', tasks: admitted });
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
    pending: { size: 0 },
    running: 0,
    finished: new Fifo<QueuedTask>(),
    now: input.now,
    seq: 0,
    rateWindow: input.rateLimit ? new RateWindow(input.rateLimit) : undefined,
    groupRateLimit: input.groupRateLimit,
    groupWindows: new Map<string, RateWindow>(),
    wakeAt: undefined,
  };
}
