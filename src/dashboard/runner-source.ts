import type { BackgroundRunner } from '../runner/background-runner.js';
import type { BackgroundTask } from '../runner/background-task.js';
import type { RunnerEvents, TransitionEvent } from '../runner/events.js';
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

/** What the dashboard keeps per task: raw entries, rendered only when someone asks. */
interface Tracked {
  readonly task: BackgroundTask;
  readonly transitions: TransitionMessage[];
  /** The last streamed items, already rendered (they are not kept raw: the work may reuse them). */
  chunks: string[] | undefined;
  /** The task's row as JSON, built at most once between two of its transitions or progress reports. */
  json: string | undefined;
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
 * A transition as the runner reported it, kept raw: it is both the entry of the task's log and the
 * feed's message. Nothing is built or serialised until a client needs it; then `task` is the task's
 * row *as it is at that moment* (it may have moved on since: `to` is the state this one entered),
 * built once per task however many of its messages go out in the same write.
 * @internal
 */
export class TransitionMessage {
  readonly type = 'transition' as const;
  readonly #tracked: Tracked;
  readonly #render: Render;
  readonly from: TaskStatus | null;
  readonly to: TaskStatus;
  readonly event: string;
  readonly at: number;
  readonly attempt: number;

  constructor(tracked: Tracked, render: Render, event: TransitionEvent) {
    this.#tracked = tracked;
    this.#render = render;
    this.from = event.from;
    this.to = event.to;
    this.event = event.event;
    this.at = event.at;
    this.attempt = event.attempt;
  }

  get taskId(): TaskId {
    return this.#tracked.task.id;
  }

  get task(): TaskView {
    return taskView(this.#tracked.task, this.#render);
  }

  /** The event's data, the same JSON `JSON.stringify({ type, task, from, to, event, at, attempt })` gives. */
  data(): string {
    const { from, to, event, at, attempt } = this;
    return `{"type":"transition","task":${rowJson(this.#tracked, this.#render)},"from":${from === null ? 'null' : `"${from}"`},"to":"${to}","event":${JSON.stringify(event)},"at":${at},"attempt":${attempt}}`;
  }

  view(): TransitionView {
    const { from, to, event, at, attempt } = this;
    return { from, to, event, at, attempt };
  }
}

/** A progress report: the task's row, rendered when it goes out (the feed keeps one per task per tick). */
class ProgressMessage {
  readonly type = 'progress' as const;
  readonly #tracked: Tracked;
  readonly #render: Render;

  constructor(tracked: Tracked, render: Render) {
    this.#tracked = tracked;
    this.#render = render;
  }

  get taskId(): TaskId {
    return this.#tracked.task.id;
  }

  get task(): TaskView {
    return taskView(this.#tracked.task, this.#render);
  }

  data(): string {
    return `{"type":"progress","task":${rowJson(this.#tracked, this.#render)}}`;
  }
}

function rowJson(tracked: Tracked, render: Render): string {
  return (tracked.json ??= JSON.stringify(taskView(tracked.task, render)));
}

/**
 * A {@link DashboardSource} over a runner's public API and its `'transition'` and `'progress'`
 * events. It keeps each task's transition log and last streamed items (bounded), and counts the
 * active states for the runner panel. Never touches `task.actor`, so it costs no actor per task.
 *
 * On the runner's hot path it only counts and keeps the raw transition (one small object): views
 * and JSON are built when a client asks, so a dashboard nobody has open costs next to nothing.
 * @internal
 */
export class RunnerSource implements DashboardSource {
  readonly #runner: BackgroundRunner;
  readonly #render: Render;
  readonly #readOnly: boolean;
  readonly #tracked = new Map<TaskId, Tracked>();
  readonly #listeners = new Set<(message: SourceMessage) => void>();
  readonly #counts: Record<ActiveStatus, number> = { pending: 0, running: 0, retrying: 0 };
  /** Start times within the rate window, oldest first (only kept when the runner has a `rateLimit`). */
  #starts: number[] = [];
  #hasRate = false;
  #attached = false;

  constructor(runner: BackgroundRunner, render: Render, readOnly: boolean) {
    this.#runner = runner;
    this.#render = render;
    this.#readOnly = readOnly;
  }

  readonly #onTransition: RunnerEvents['transition'] = (event) => {
    const { from, to } = event;
    if (isActive(from)) this.#counts[from] -= 1;
    if (isActive(to)) this.#counts[to] += 1;
    if (to === 'running' && this.#hasRate) this.#starts.push(event.at);
    const tracked = this.#track(event.task);
    tracked.json = undefined;
    const message = new TransitionMessage(tracked, this.#render, event);
    const log = tracked.transitions;
    log.push(message);
    if (log.length > MAX_LOG) log.splice(1, 1); // keep the creation
    this.#send(message);
  };

  readonly #onProgress: RunnerEvents['progress'] = (event) => {
    const tracked = this.#track(event.task);
    tracked.json = undefined;
    if ('chunk' in event) {
      const chunks = (tracked.chunks ??= []);
      chunks.push(showValue(event.chunk, 'chunk', this.#render) ?? '');
      if (chunks.length > MAX_CHUNKS) chunks.shift();
    }
    this.#send(new ProgressMessage(tracked, this.#render));
  };

  #track(task: BackgroundTask): Tracked {
    let tracked = this.#tracked.get(task.id);
    if (!tracked) {
      if (this.#tracked.size >= MAX_TRACKED) this.#prune();
      tracked = { task, transitions: [], chunks: undefined, json: undefined };
      this.#tracked.set(task.id, tracked);
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
    // `rateLimit` is fixed at construction: read it once, not on every start.
    this.#hasRate = this.#runner.config.rateLimit !== undefined;
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
      transitions: tracked ? tracked.transitions.map((t) => t.view()) : rebuiltLog(task),
      attempts: task.attempts.map((a) => ({
        attempt: a.attempt,
        startedAt: a.startedAt,
        completedAt: a.completedAt,
        error: showError(a.error, this.#render) ?? { name: 'Error', message: '' },
      })),
      recentChunks: tracked?.chunks ? [...tracked.chunks] : [],
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
