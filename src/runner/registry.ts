import { createStore } from '@xstate/store';
import type { ExtractEvents, Store } from '@xstate/store';
import type { TaskId, TaskStatus } from '../types.js';

/** One task as the registry shows it: plain data, replaced (never mutated) on every change. */
export interface TaskSummary {
  readonly id: TaskId;
  readonly name: string;
  readonly status: TaskStatus;
  readonly progress: number;
  readonly message: string | undefined;
  /** How many items a streaming task has produced in its current attempt. */
  readonly chunks: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly completedAt: number | undefined;
  /** The error's message for failed and cancelled tasks. */
  readonly error: string | undefined;
}

/** The registry store's context. */
export interface TaskRegistryContext {
  /**
   * Summaries by id, in submission order. The map itself is updated in place (copying it per
   * change would make every update O(n)); each summary is a new object when its task changes, so
   * `select((c) => c.tasks.get(id))` notifies exactly when that task changes. To react to any
   * change, select `version`.
   */
  readonly tasks: ReadonlyMap<TaskId, TaskSummary>;
  /** How many visible tasks are in each state. */
  readonly counts: Readonly<Record<TaskStatus, number>>;
  /** Increases by one on every change. */
  readonly version: number;
}

const zeroCounts = (): Record<TaskStatus, number> => ({
  pending: 0,
  running: 0,
  retrying: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  lost: 0,
});

/**
 * @internal
 * Creates the `@xstate/store` of task summaries behind `runner.registry`.
 */
export function createTaskRegistry(initial: Iterable<TaskSummary>): TaskRegistry {
  const tasks = new Map<TaskId, TaskSummary>();
  const counts = zeroCounts();
  for (const summary of initial) {
    tasks.set(summary.id, summary);
    counts[summary.status] += 1;
  }
  return createStore({
    context: { tasks, counts, version: 0 } as TaskRegistryContext,
    on: {
      upsert: (context, event: { summary: TaskSummary }) => {
        const map = context.tasks as Map<TaskId, TaskSummary>;
        const previous = map.get(event.summary.id);
        map.set(event.summary.id, event.summary);
        const next = { ...context.counts };
        if (previous) next[previous.status] -= 1;
        next[event.summary.status] += 1;
        return { tasks: map, counts: next, version: context.version + 1 };
      },
      remove: (context, event: { taskId: TaskId }) => {
        const map = context.tasks as Map<TaskId, TaskSummary>;
        const previous = map.get(event.taskId);
        if (!previous) return context;
        map.delete(event.taskId);
        const next = { ...context.counts };
        next[previous.status] -= 1;
        return { tasks: map, counts: next, version: context.version + 1 };
      },
    },
  });
}

/**
 * The registry: an `@xstate/store` store of {@link TaskSummary} records. Spelled out (not
 * `ReturnType<typeof createTaskRegistry>`) so the published types name only public types.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type TaskRegistry = Store<TaskRegistryContext, { upsert: { summary: TaskSummary }; remove: { taskId: TaskId } }, ExtractEvents<{}>>;
