import type { TaskId, TaskStatus } from '../types.js';
import type { BackgroundTask, TaskRecord } from './background-task.js';

/**
 * @internal
 * Every task a runner holds, in submission order (finished ones until cleanup), with the counts the
 * runner needs at O(1): pending tasks (for `maxQueueSize`) and active ones (not final: the runner
 * is idle at 0). The task driver is the only writer.
 *
 * The index by id is built lazily. A task is added to a list of recent tasks (an array push) and
 * enters the id index only when something looks a task up by id (`getTask`, `cancel(id)`, a
 * store or a backend naming it). The runner itself never needs to: the supervisor hands tasks back
 * by their entries. So a runner nobody asks by id never hashes a task id, which was a sixth of a
 * no-op task's cost (a Map insert, a lookup and a delete of a 36-character string per task).
 * `task._slot` says where a task is: 0 not held, 1 in the recent list, 2 in the index.
 *
 * A remote backend adds its tasks here like any other: the table does not care where work runs.
 */
export class TaskTable {
  /** The indexed tasks, by id, in submission order; all older than the recent ones. */
  readonly #byId = new Map<TaskId, BackgroundTask>();
  /** Tasks added since the index was last brought up to date, in submission order, from `#head`. */
  #recent: (BackgroundTask | undefined)[] = [];
  #head = 0;
  /** Entries of `#recent` (from `#head`) whose task was deleted: skipped, and dropped when compacted. */
  #dropped = 0;
  #size = 0;
  /** Tasks not yet final. */
  active = 0;
  /** Tasks in `pending`. */
  pending = 0;

  add(task: BackgroundTask): void {
    task._slot = 1;
    this.#recent.push(task);
    this.#size += 1;
  }

  /** Stops holding `task`; false if it was not held. */
  delete(task: BackgroundTask): boolean {
    const slot = task._slot;
    if (slot === 0) return false;
    task._slot = 0;
    this.#size -= 1;
    if (slot === 2) {
      this.#byId.delete(task.id);
      return true;
    }
    // In the recent list: drop it from the front at once (tasks mostly finish in submission
    // order), else mark the hole and compact once holes are half of the list.
    const recent = this.#recent;
    if (recent[this.#head] === task) {
      recent[this.#head] = undefined;
      this.#head += 1;
      while (this.#head < recent.length && recent[this.#head]!._slot !== 1) {
        recent[this.#head] = undefined;
        this.#head += 1;
        this.#dropped -= 1;
      }
    } else {
      this.#dropped += 1;
    }
    const live = recent.length - this.#head;
    if (live === this.#dropped) {
      this.#recent = [];
      this.#head = 0;
      this.#dropped = 0;
    } else if (this.#head > 1024 && this.#head * 2 > recent.length) {
      this.#recent = recent.slice(this.#head);
      this.#head = 0;
    } else if (this.#dropped > 1024 && this.#dropped * 2 > live) {
      this.#recent = recent.slice(this.#head).filter((held) => held!._slot === 1);
      this.#head = 0;
      this.#dropped = 0;
    }
    return true;
  }

  get(id: TaskId): BackgroundTask | undefined {
    const task = this.#byId.get(id);
    if (task !== undefined || this.#head === this.#recent.length) return task;
    this.#index();
    return this.#byId.get(id);
  }

  has(id: TaskId): boolean {
    return this.get(id) !== undefined;
  }

  /** How many tasks are held. */
  get size(): number {
    return this.#size;
  }

  /** Every task held, in submission order (a copy). */
  all(): BackgroundTask[] {
    const all: BackgroundTask[] = [];
    this.#each((task) => all.push(task));
    return all;
  }

  /**
   * The tasks running now, in submission order. A scan, not an index: a second set of running tasks
   * cost every task two hash operations for a list that is read rarely.
   */
  running(): BackgroundTask[] {
    const running: BackgroundTask[] = [];
    this.#each((task) => task.status === 'running' && running.push(task));
    return running;
  }

  /** The pending tasks, in submission order. */
  pendingTasks(): BackgroundTask[] {
    const pending: BackgroundTask[] = [];
    this.#each((task) => task.status === 'pending' && pending.push(task));
    return pending;
  }

  /** The ids of the tasks not yet final, in submission order (a backend reconciles them after a disconnect). */
  activeIds(): TaskId[] {
    const ids: TaskId[] = [];
    this.#each((task) => !task.isCompleted && ids.push(task.id));
    return ids;
  }

  /** Plain JSON records of the tasks, optionally only those in `status`. */
  list(status: TaskStatus | readonly TaskStatus[] | undefined): TaskRecord[] {
    const wanted = status === undefined ? undefined : new Set<TaskStatus>(typeof status === 'string' ? [status] : status);
    const records: TaskRecord[] = [];
    this.#each((task) => (!wanted || wanted.has(task.status)) && records.push(task.toJSON()));
    return records;
  }

  /** Visits every task held, in submission order: the indexed ones, then the recent ones. */
  #each(visit: (task: BackgroundTask) => unknown): void {
    for (const task of this.#byId.values()) visit(task);
    const recent = this.#recent;
    for (let i = this.#head; i < recent.length; i += 1) {
      const task = recent[i]!;
      if (task._slot === 1) visit(task);
    }
  }

  get isIdle(): boolean {
    return this.active === 0;
  }

  /** Moves the recent tasks into the index, in order (they are all newer than the indexed ones). */
  #index(): void {
    const recent = this.#recent;
    for (let i = this.#head; i < recent.length; i += 1) {
      const task = recent[i]!;
      if (task._slot !== 1) continue;
      task._slot = 2;
      this.#byId.set(task.id, task);
    }
    this.#recent = [];
    this.#head = 0;
    this.#dropped = 0;
  }
}
