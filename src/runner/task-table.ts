import type { TaskId, TaskStatus } from '../types.js';
import type { BackgroundTask, TaskRecord } from './background-task.js';

/**
 * @internal
 * Every task a runner holds, by id, in submission order (finished ones until cleanup), with the
 * counts the runner needs at O(1): running tasks, pending ones (for `maxQueueSize`) and active ones
 * (not final: the runner is idle at 0). The task driver is the only writer.
 *
 * A remote backend adds its tasks here like any other: the table does not care where work runs.
 */
export class TaskTable {
  readonly #byId = new Map<TaskId, BackgroundTask>();
  /** Tasks not yet final. */
  active = 0;
  /** Tasks in `pending`. */
  pending = 0;

  add(task: BackgroundTask): void {
    this.#byId.set(task.id, task);
  }

  delete(id: TaskId): void {
    this.#byId.delete(id);
  }

  get(id: TaskId): BackgroundTask | undefined {
    return this.#byId.get(id);
  }

  has(id: TaskId): boolean {
    return this.#byId.has(id);
  }

  /** How many tasks are held. */
  get size(): number {
    return this.#byId.size;
  }

  /** Every task held, in submission order (a copy). */
  all(): BackgroundTask[] {
    return [...this.#byId.values()];
  }

  /**
   * The tasks running now, in submission order. A scan, not an index: a second set of running tasks
   * cost every task two hash operations for a list that is read rarely.
   */
  running(): BackgroundTask[] {
    const running: BackgroundTask[] = [];
    for (const task of this.#byId.values()) if (task.status === 'running') running.push(task);
    return running;
  }

  /** The pending tasks, in submission order. */
  pendingTasks(): BackgroundTask[] {
    const pending: BackgroundTask[] = [];
    for (const task of this.#byId.values()) if (task.status === 'pending') pending.push(task);
    return pending;
  }

  /** The ids of the tasks not yet final, in submission order (a backend reconciles them after a disconnect). */
  activeIds(): TaskId[] {
    const ids: TaskId[] = [];
    for (const task of this.#byId.values()) if (!task.isCompleted) ids.push(task.id);
    return ids;
  }

  /** Plain JSON records of the tasks, optionally only those in `status`. */
  list(status: TaskStatus | readonly TaskStatus[] | undefined): TaskRecord[] {
    const wanted = status === undefined ? undefined : new Set<TaskStatus>(typeof status === 'string' ? [status] : status);
    const records: TaskRecord[] = [];
    for (const task of this.#byId.values()) if (!wanted || wanted.has(task.status)) records.push(task.toJSON());
    return records;
  }

  get isIdle(): boolean {
    return this.active === 0;
  }
}
