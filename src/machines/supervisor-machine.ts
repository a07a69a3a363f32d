import { cancel, enqueueActions, setup } from 'xstate';
import type { ActorRefFrom } from 'xstate';
import type { TaskId } from '../types.js';
import { Fifo } from './fifo.js';

/**
 * The supervisor's state. The queue structures are owned by the supervisor actor and updated in
 * place: copying a 100,000-entry queue on every event is exactly the O(n) trap to avoid, so each
 * transition returns a new context object that shares them.
 */
export interface SupervisorContext {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  /** Admission order (FIFO). Withdrawn ids stay here and are skipped when reached. */
  readonly queue: Fifo<TaskId>;
  /** The ids still waiting for a slot: membership and the pending count. */
  readonly pending: Set<TaskId>;
  /** How many admitted tasks have not settled. */
  readonly running: number;
  /** Finished tasks awaiting removal, oldest first (they finish in time order). */
  readonly finished: Fifo<{ readonly taskId: TaskId; readonly at: number }>;
  /** The time of the last event, epoch ms: the machine's only notion of now. */
  readonly now: number;
}

/** What the supervisor is created with. */
export interface SupervisorInput {
  readonly maxConcurrentTasks: number;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  /** Epoch ms at creation. */
  readonly now: number;
}

/**
 * Commands the supervisor accepts.
 *
 * `sync` carries everything that happened to tasks since the last one, in batches: tasks
 * `submitted` (queue them), `withdrawn` (ended while pending: drop them from the queue) and
 * `settled` (ended while running: free their slots), all at time `at`. The runner sends at most
 * one per microtask, which is what keeps the supervisor's cost per task low.
 */
export type SupervisorEvent =
  | {
      type: 'sync';
      submitted: readonly TaskId[];
      withdrawn: readonly TaskId[];
      settled: readonly TaskId[];
      at: number;
    }
  | { type: 'sweep' }
  | { type: 'stop' };

/** What the supervisor asks the runner to do: start tasks, or forget finished ones. */
export type SupervisorEmitted = { type: 'admit'; taskIds: TaskId[] } | { type: 'remove'; taskIds: TaskId[] };

const SWEEP_ID = 'supervisor.sweep';

/**
 * The queue owner: admits pending tasks in FIFO order while fewer than `maxConcurrentTasks` run,
 * and, with `autoCleanup`, removes finished tasks `cleanupDelay` ms after they finish.
 *
 * Every task costs O(1) amortised, whatever the number of tasks: one delayed `sweep` event serves
 * all finished tasks (scheduled for the oldest, re-armed for the next after each sweep), and
 * effects leave the machine as emitted events (`admit`, `remove`) that the runner acts on.
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
      if (event.type !== 'sync') return;
      const { queue, pending, finished } = context;
      for (const taskId of event.submitted) {
        queue.push(taskId);
        pending.add(taskId);
      }
      for (const taskId of event.withdrawn) pending.delete(taskId);
      let running = context.running - event.settled.length;
      if (context.autoCleanup) {
        const hadFinished = finished.size > 0;
        for (const taskId of event.withdrawn) finished.push({ taskId, at: event.at });
        for (const taskId of event.settled) finished.push({ taskId, at: event.at });
        // One timer for all finished tasks: arm it when the first one arrives.
        if (!hadFinished && finished.size > 0) {
          enqueue.raise({ type: 'sweep' }, { id: SWEEP_ID, delay: context.cleanupDelay });
        }
      }
      const admitted: TaskId[] = [];
      while (running < context.maxConcurrentTasks && pending.size > 0) {
        const taskId = queue.shift();
        if (taskId === undefined) break;
        if (!pending.delete(taskId)) continue; // withdrawn while queued
        running += 1;
        admitted.push(taskId);
      }
      enqueue.assign({ running, now: Math.max(context.now, event.at) });
      if (admitted.length > 0) enqueue.emit({ type: 'admit', taskIds: admitted });
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
    cancelSweep: cancel(SWEEP_ID),
    clearQueues: ({ context }) => {
      context.pending.clear();
      context.queue.clear();
      context.finished.clear();
    },
  },
}).createMachine({
  id: 'supervisor',
  initial: 'active',
  context: ({ input }) => ({
    maxConcurrentTasks: input.maxConcurrentTasks,
    autoCleanup: input.autoCleanup,
    cleanupDelay: input.cleanupDelay,
    queue: new Fifo<TaskId>(),
    pending: new Set<TaskId>(),
    running: 0,
    finished: new Fifo<{ taskId: TaskId; at: number }>(),
    now: input.now,
  }),
  states: {
    active: {
      on: {
        sync: { actions: 'sync' },
        sweep: { actions: 'sweep' },
        stop: { target: 'stopped' },
      },
    },
    stopped: {
      type: 'final',
      entry: ['cancelSweep', 'clearQueues'],
    },
  },
});

/** The supervisor actor a runner owns. */
export type SupervisorActor = ActorRefFrom<typeof supervisorMachine>;
