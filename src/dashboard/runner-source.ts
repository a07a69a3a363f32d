import type { BackgroundRunner } from '../runner/background-runner.js';
import type { BackgroundTask } from '../runner/background-task.js';
import type { RunnerEvents } from '../runner/events.js';
import type { TaskId, TaskStatus } from '../types.js';
import type { DashboardSource, SourceMessage } from './source.js';
import { showError, showValue } from './views.js';
import type { Render, RunnerView, TaskDetailView, TaskView, TransitionView } from './views.js';

/** How many transitions and streamed items the detail view keeps per task. */
const MAX_LOG = 50;
const MAX_CHUNKS = 20;
/** How many tasks' logs are kept at most (the oldest go first), whatever the runner holds. */
const MAX_TRACKED = 10_000;

type ActiveStatus = 'pending' | 'running' | 'retrying';
const isActive = (status: TaskStatus | null): status is ActiveStatus => status === 'pending' || status === 'running' || status === 'retrying';

interface Tracked {
  transitions: TransitionView[];
  chunks: string[];
}

/** A task handle as a table row. */
export function taskView(task: BackgroundTask, render: Render): TaskView {
  return {
    id: task.id,
    name: task.name,
    status: task.status,
    progress: task.progress,
    message: task.message === undefined ? null : showValue(task.message, 'message', render),
    attempt: task.attempt,
    chunks: task.chunks,
    createdAt: task.createdAt.getTime(),
    startedAt: task.startedAt?.getTime() ?? null,
    completedAt: task.completedAt?.getTime() ?? null,
    error: showError(task.error, render),
  };
}

/**
 * A {@link DashboardSource} over a runner's public API and its `'transition'` and `'progress'`
 * events. It keeps each task's transition log and last streamed items (bounded), and counts the
 * active states for the runner panel. Never touches `task.actor`, so it costs no actor per task.
 * @internal
 */
export class RunnerSource implements DashboardSource {
  readonly #runner: BackgroundRunner;
  readonly #render: Render;
  readonly #readOnly: boolean;
  readonly #tracked = new Map<TaskId, Tracked>();
  readonly #listeners = new Set<(message: SourceMessage) => void>();
  readonly #counts: Record<ActiveStatus, number> = { pending: 0, running: 0, retrying: 0 };
  /** Start times within the rate window, oldest first. */
  #starts: number[] = [];
  #attached = false;

  constructor(runner: BackgroundRunner, render: Render, readOnly: boolean) {
    this.#runner = runner;
    this.#render = render;
    this.#readOnly = readOnly;
  }

  readonly #onTransition: RunnerEvents['transition'] = ({ task, from, to, event, at, attempt }) => {
    if (isActive(from)) this.#counts[from] -= 1;
    if (isActive(to)) this.#counts[to] += 1;
    if (to === 'running') this.#starts.push(at);
    const entry = { from, to, event, at, attempt };
    const tracked = this.#track(task.id);
    tracked.transitions.push(entry);
    if (tracked.transitions.length > MAX_LOG) tracked.transitions.splice(1, 1); // keep the creation
    this.#send({ type: 'transition', task: taskView(task, this.#render), ...entry });
  };

  readonly #onProgress: RunnerEvents['progress'] = (event) => {
    const { task } = event;
    if ('chunk' in event) {
      const chunks = this.#track(task.id).chunks;
      chunks.push(showValue(event.chunk, 'chunk', this.#render) ?? '');
      if (chunks.length > MAX_CHUNKS) chunks.shift();
    }
    this.#send({ type: 'progress', task: taskView(task, this.#render) });
  };

  #track(id: TaskId): Tracked {
    let tracked = this.#tracked.get(id);
    if (!tracked) {
      if (this.#tracked.size >= MAX_TRACKED) this.#prune();
      tracked = { transitions: [], chunks: [] };
      this.#tracked.set(id, tracked);
    }
    return tracked;
  }

  /** Drops the logs of tasks the runner no longer holds; if none, the oldest tenth. */
  #prune(): void {
    for (const id of this.#tracked.keys()) if (this.#runner.getTask(id) === undefined) this.#tracked.delete(id);
    if (this.#tracked.size < MAX_TRACKED) return;
    let drop = Math.ceil(MAX_TRACKED / 10);
    for (const id of this.#tracked.keys()) {
      if (drop-- <= 0) break;
      this.#tracked.delete(id);
    }
  }

  #send(message: SourceMessage): void {
    for (const listener of this.#listeners) listener(message);
  }

  #attach(): void {
    if (this.#attached) return;
    this.#attached = true;
    this.#counts.pending = this.#counts.running = this.#counts.retrying = 0;
    for (const record of this.#runner.listTasks({ status: ['pending', 'running', 'retrying'] })) {
      if (isActive(record.status)) this.#counts[record.status] += 1;
    }
    this.#runner.on('transition', this.#onTransition);
    this.#runner.on('progress', this.#onProgress);
  }

  #detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    this.#runner.off('transition', this.#onTransition);
    this.#runner.off('progress', this.#onProgress);
  }

  /** Starts listening to the runner (the log begins here). */
  open(_pollMs?: number): void {
    this.#attach();
  }

  /** Stops listening to the runner. */
  close(): void {
    this.#detach();
    this.#listeners.clear();
  }

  tasks(): TaskView[] {
    return this.#runner.tasks.map((task) => taskView(task, this.#render));
  }

  task(id: TaskId): TaskDetailView | undefined {
    const task = this.#runner.getTask(id);
    if (!task) return undefined;
    const tracked = this.#tracked.get(id);
    return {
      ...taskView(task, this.#render),
      transitions: tracked ? [...tracked.transitions] : rebuiltLog(task),
      attempts: task.attempts.map((a) => ({
        attempt: a.attempt,
        startedAt: a.startedAt,
        completedAt: a.completedAt,
        error: showError(a.error, this.#render) ?? { name: 'Error', message: '' },
      })),
      recentChunks: tracked ? [...tracked.chunks] : [],
      result: task.status === 'completed' ? showValue(task.result, 'result', this.#render) : null,
      metadata: Object.keys(task.metadata).length === 0 ? null : showValue(task.metadata, 'metadata', this.#render),
    };
  }

  runner(): RunnerView {
    const { maxConcurrentTasks, rateLimit } = this.#runner.config;
    let rate: RunnerView['rate'] = null;
    if (rateLimit) {
      const since = Date.now() - rateLimit.interval;
      let drop = 0;
      while (drop < this.#starts.length && this.#starts[drop]! < since) drop += 1;
      if (drop > 0) this.#starts = this.#starts.slice(drop);
      rate = { max: rateLimit.max, interval: rateLimit.interval, used: this.#starts.length };
    } else {
      this.#starts.length = 0;
    }
    return {
      readOnly: this.#readOnly,
      controllable: true,
      paused: this.#runner.isPaused,
      concurrency: maxConcurrentTasks,
      running: this.#counts.running,
      pending: this.#counts.pending,
      retrying: this.#counts.retrying,
      rate,
    };
  }

  cancel(id: TaskId): Promise<boolean> {
    return this.#runner.cancelTask(id, 'cancelled from the dashboard');
  }

  pause(): void {
    this.#runner.pause();
    this.#send({ type: 'runner', runner: this.runner() });
  }

  resume(): void {
    this.#runner.resume();
    this.#send({ type: 'runner', runner: this.runner() });
  }

  setConcurrency(n: number): void {
    this.#runner.setConcurrency(n);
    this.#send({ type: 'runner', runner: this.runner() });
  }

  subscribe(listener: (message: SourceMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** A log for a task seen before the dashboard started: what its timestamps tell. */
export function rebuiltLog(task: {
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
