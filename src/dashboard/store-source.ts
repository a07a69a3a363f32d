import type { StoredError, StoredTask } from '../store/task-store.js';
import type { TaskId, TaskStatus } from '../types.js';
import type { DashboardSource, SourceMessage } from './source.js';
import { showError, showValue } from './views.js';
import type { Render, RunnerView, TaskDetailView, TaskView, TransitionView } from './views.js';

/** What the store source reads: the part of `SqliteTaskStore` the CLI also uses. */
export interface ReadableTaskStore {
  list(options?: { status?: TaskStatus | readonly TaskStatus[] | undefined }): StoredTask[];
  get(id: TaskId): StoredTask | undefined;
  requestCancel(id: TaskId, reason?: string): { outcome: string };
}

const ACTIVE = new Set<TaskStatus>(['pending', 'running', 'retrying']);

/** The chart event a status change in the store most likely came from. */
function causeOf(from: TaskStatus, to: TaskStatus, error: StoredError | null): string {
  if (to === 'cancelled') return 'cancel';
  if (to === 'lost') return 'lose';
  if (to === 'running') return from === 'retrying' ? 'retry' : 'start';
  if (to === 'completed') return 'done';
  return error?.name === 'TaskTimeoutError' ? 'timeout' : 'error';
}

function storedView(row: StoredTask, render: Render): TaskView {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    progress: row.progress,
    message: row.message === null ? null : showValue(row.message, 'message', render),
    attempt: row.attempt,
    chunks: 0,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    error: showError(row.error, render),
  };
}

/**
 * A {@link DashboardSource} over a task store's records: the history of any process that wrote
 * it, read-only except for cancel, which goes through the store's cancel request (a live runner
 * holding the store carries it out within its poll). It polls the store every `pollMs` and turns
 * the changes it sees into the same messages a runner's transitions give.
 * @internal
 */
export class StoreSource implements DashboardSource {
  readonly #store: ReadableTaskStore;
  readonly #render: Render;
  readonly #readOnly: boolean;
  readonly #listeners = new Set<(message: SourceMessage) => void>();
  readonly #seen = new Map<TaskId, { status: TaskStatus; updatedAt: number }>();
  readonly #logs = new Map<TaskId, TransitionView[]>();
  #rows: StoredTask[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(store: ReadableTaskStore, render: Render, readOnly: boolean) {
    this.#store = store;
    this.#render = render;
    this.#readOnly = readOnly;
  }

  /** Reads the store now and starts polling it. */
  open(pollMs: number): void {
    this.poll();
    this.#timer = setInterval(() => this.poll(), pollMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  /** Reads every record and reports what changed since the last read. */
  poll(): void {
    const rows = this.#store.list();
    const first = this.#seen.size === 0 && this.#rows.length === 0;
    for (const row of rows) {
      const before = this.#seen.get(row.id);
      if (before && before.updatedAt === row.updatedAt) continue;
      this.#seen.set(row.id, { status: row.status, updatedAt: row.updatedAt });
      if (first) continue;
      const task = storedView(row, this.#render);
      if (before && before.status === row.status) {
        this.#send({ type: 'progress', task });
        continue;
      }
      const from = before?.status ?? null;
      const entry: TransitionView = {
        from,
        to: row.status,
        event: from === null ? 'submit' : causeOf(from, row.status, row.error),
        at: row.updatedAt,
        attempt: row.attempt,
      };
      const log = this.#logs.get(row.id) ?? (from === null ? [] : this.#rebuilt(row));
      log.push(entry);
      this.#logs.set(row.id, log);
      this.#send({ type: 'transition', task, ...entry });
    }
    this.#rows = rows;
  }

  #rebuilt(row: StoredTask): TransitionView[] {
    return rebuiltLog({
      status: this.#seen.get(row.id)?.status ?? row.status,
      attempt: row.attempt,
      createdAt: new Date(row.createdAt),
      startedAt: row.startedAt === null ? undefined : new Date(row.startedAt),
      completedAt: undefined,
    }).filter((t) => t.to !== row.status);
  }

  #send(message: SourceMessage): void {
    for (const listener of this.#listeners) listener(message);
  }

  tasks(): TaskView[] {
    return this.#rows.map((row) => storedView(row, this.#render));
  }

  task(id: TaskId): TaskDetailView | undefined {
    const row = this.#store.get(id);
    if (!row) return undefined;
    const transitions =
      this.#logs.get(id) ??
      rebuiltLog({
        status: row.status,
        attempt: row.attempt,
        createdAt: new Date(row.createdAt),
        startedAt: row.startedAt === null ? undefined : new Date(row.startedAt),
        completedAt: row.completedAt === null ? undefined : new Date(row.completedAt),
      });
    return {
      ...storedView(row, this.#render),
      transitions: [...transitions],
      attempts: [],
      recentChunks: [],
      result: row.status === 'completed' ? showValue(row.result, 'result', this.#render) : null,
      metadata: Object.keys(row.metadata).length === 0 ? null : showValue(row.metadata, 'metadata', this.#render),
    };
  }

  runner(): RunnerView {
    let pending = 0;
    let running = 0;
    let retrying = 0;
    for (const row of this.#rows) {
      if (row.status === 'pending') pending += 1;
      else if (row.status === 'running') running += 1;
      else if (row.status === 'retrying') retrying += 1;
    }
    return { readOnly: this.#readOnly, controllable: false, paused: false, concurrency: null, running, pending, retrying, rate: null };
  }

  async cancel(id: TaskId): Promise<boolean> {
    const row = this.#store.get(id);
    if (!row || !ACTIVE.has(row.status)) return false;
    const { outcome } = this.#store.requestCancel(id, 'cancelled from the dashboard');
    this.poll();
    return outcome === 'requested' || outcome === 'cancelled';
  }

  subscribe(listener: (message: SourceMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** A stored task's log as far as its row tells (a store keeps no transitions): its timestamps. */
function rebuiltLog(task: {
  status: TaskStatus;
  attempt: number;
  createdAt: Date;
  startedAt: Date | undefined;
  completedAt: Date | undefined;
}): TransitionView[] {
  const log: TransitionView[] = [{ from: null, to: 'pending', event: 'submit', at: task.createdAt.getTime(), attempt: 0 }];
  if (task.startedAt) log.push({ from: 'pending', to: 'running', event: 'start', at: task.startedAt.getTime(), attempt: 1 });
  if (task.status !== 'pending' && task.status !== 'running') {
    const from = task.startedAt ? 'running' : 'pending';
    log.push({ from, to: task.status, event: '?', at: task.completedAt?.getTime() ?? task.createdAt.getTime(), attempt: task.attempt });
  }
  return log;
}
