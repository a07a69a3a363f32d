import type { BackgroundRunner } from '../runner/background-runner.js';
import type { BackgroundTask } from '../runner/background-task.js';
import type { RunnerEvents } from '../runner/events.js';
import { historyOf } from '../machines/task-chart.js';
import type { TaskId, TaskStatus } from '../types.js';
import type { DashboardSource, SourceMessage } from './source.js';
import { showError, showValue } from './views.js';
import type { Render, RunnerView, TaskDetailView, TaskView, TransitionView } from './views.js';

/** How many transitions and streamed items the detail view keeps per task. */
const MAX_LOG = 50;
const MAX_CHUNKS = 20;
/** How many tasks' streamed items are kept at most (tasks the runner dropped go first). */
const MAX_STREAMING = 10_000;
/** The transition log's smallest capacity (a power of two): the window a task's log is exact in. */
const MIN_LOG_CAPACITY = 8_192;

type ActiveStatus = 'pending' | 'running' | 'retrying';
const isActive = (status: TaskStatus | null): status is ActiveStatus =>
  status === 'pending' || status === 'running' || status === 'retrying';

/** A task handle as a table row. */
function taskView(task: BackgroundTask, render: Render): TaskView {
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
 * Rows rendered for one write to the clients (or one resume), by task: a task with several
 * transitions in the same write is serialised once. A row is the task *as it is when it goes out*.
 * @internal
 */
export type RowCache = Map<BackgroundTask, string>;

/**
 * What {@link RunnerSource} hands the event feed instead of {@link SourceMessage}s: a transition is
 * a number, its place in the source's log, rendered by {@link RunnerSource.transitionData} only if
 * a client needs it; progress is a message that renders itself.
 * @internal
 */
export interface LogListener {
  transition(seq: number, taskId: TaskId): void;
  message(message: SourceMessage | ProgressMessage): void;
}

/** A progress report: the task's row, rendered when it goes out (the feed keeps one per task per tick). @internal */
class ProgressMessage {
  readonly type = 'progress' as const;
  readonly #task: BackgroundTask;
  readonly #render: Render;

  constructor(task: BackgroundTask, render: Render) {
    this.#task = task;
    this.#render = render;
  }

  get taskId(): TaskId {
    return this.#task.id;
  }

  get task(): TaskView {
    return taskView(this.#task, this.#render);
  }

  data(rows: RowCache): string {
    return `{"type":"progress","task":${rowJson(rows, this.#task, this.#render)}}`;
  }
}

function rowJson(rows: RowCache, task: BackgroundTask, render: Render): string {
  let json = rows.get(task);
  if (json === undefined) {
    json = JSON.stringify(taskView(task, render));
    rows.set(task, json);
  }
  return json;
}

const smallestPowerOfTwo = (atLeast: number): number => 2 ** Math.ceil(Math.log2(Math.max(2, atLeast)));

/**
 * A {@link DashboardSource} over a runner's public API and its `'transition'` and `'progress'`
 * events. It keeps the recent transitions and each task's last streamed items (bounded), and counts
 * the active states for the runner panel. Never touches `task.actor`, so it costs no actor per task.
 *
 * On the runner's hot path a transition costs a few counters and six stores into a preallocated
 * ring of columns (the task, `from`, `to`, `event`, `at`, `attempt`): no object, no closure, no
 * map entry. A task's log is read back by scanning that ring when its detail is asked for; rows
 * and JSON are built when a client is connected, once per task per write.
 * @internal
 */
export class RunnerSource implements DashboardSource {
  readonly #runner: BackgroundRunner;
  readonly #render: Render;
  readonly #readOnly: boolean;
  readonly #listeners = new Set<(message: SourceMessage) => void>();
  #log: LogListener | undefined;
  readonly #counts: Record<ActiveStatus, number> = { pending: 0, running: 0, retrying: 0 };
  /** Start times within the rate window, oldest first (only kept when the runner has a `rateLimit`). */
  #starts: number[] = [];
  #hasRate = false;
  #attached = false;

  // The transition log: transition `n` (1-based) sits at `n & #mask` in each column.
  readonly #capacity: number;
  readonly #mask: number;
  readonly #tasks: (BackgroundTask | undefined)[];
  readonly #froms: (TaskStatus | null)[];
  readonly #tos: TaskStatus[];
  readonly #events: string[];
  readonly #ats: Float64Array;
  readonly #attempts: Int32Array;
  #seq = 0;
  /** The last streamed items of tasks that streamed, already rendered (the work may reuse the objects). */
  readonly #chunks = new Map<TaskId, string[]>();

  /**
   * @param historySize - the feed's resume window: the log keeps at least this many transitions,
   *   so every transition the feed may still send can be rendered.
   */
  constructor(runner: BackgroundRunner, render: Render, readOnly: boolean, historySize = 0) {
    this.#runner = runner;
    this.#render = render;
    this.#readOnly = readOnly;
    this.#capacity = smallestPowerOfTwo(Math.max(MIN_LOG_CAPACITY, historySize));
    this.#mask = this.#capacity - 1;
    this.#tasks = new Array<BackgroundTask | undefined>(this.#capacity).fill(undefined);
    this.#froms = new Array<TaskStatus | null>(this.#capacity).fill(null);
    this.#tos = new Array<TaskStatus>(this.#capacity).fill('pending');
    this.#events = new Array<string>(this.#capacity).fill('');
    this.#ats = new Float64Array(this.#capacity);
    this.#attempts = new Int32Array(this.#capacity);
  }

  readonly #onTransition: RunnerEvents['transition'] = (event) => {
    const { from, to } = event;
    // Plain branches: `counts[from]` with a changing key is a megamorphic keyed access, twice per transition.
    const counts = this.#counts;
    if (from === 'running') counts.running -= 1;
    else if (from === 'pending') counts.pending -= 1;
    else if (from === 'retrying') counts.retrying -= 1;
    if (to === 'running') {
      counts.running += 1;
      if (this.#hasRate) this.#starts.push(event.at);
    } else if (to === 'pending') counts.pending += 1;
    else if (to === 'retrying') counts.retrying += 1;
    const seq = ++this.#seq;
    const slot = seq & this.#mask;
    // The entry overwritten is forgotten without reading its task (long out of the CPU's cache): a
    // task whose early entries left the ring gets them back from its context (`#logOf`).
    this.#tasks[slot] = event.task;
    this.#froms[slot] = from;
    this.#tos[slot] = to;
    this.#events[slot] = event.event;
    this.#ats[slot] = event.at;
    this.#attempts[slot] = event.attempt;
    this.#log?.transition(seq, event.task.id);
    if (this.#listeners.size > 0)
      this.#send({
        type: 'transition',
        task: taskView(event.task, this.#render),
        from,
        to,
        event: event.event,
        at: event.at,
        attempt: event.attempt,
      });
  };

  readonly #onProgress: RunnerEvents['progress'] = (event) => {
    const { task } = event;
    if ('chunk' in event) {
      let chunks = this.#chunks.get(task.id);
      if (!chunks) {
        if (this.#chunks.size >= MAX_STREAMING) this.#pruneChunks();
        this.#chunks.set(task.id, (chunks = []));
      }
      chunks.push(showValue(event.chunk, 'chunk', this.#render) ?? '');
      if (chunks.length > MAX_CHUNKS) chunks.shift();
    }
    this.#log?.message(new ProgressMessage(task, this.#render));
    if (this.#listeners.size > 0) this.#send({ type: 'progress', task: taskView(task, this.#render) });
  };

  /** Drops the streamed items of tasks the runner no longer holds; if none, the oldest tenth. */
  #pruneChunks(): void {
    for (const id of this.#chunks.keys()) if (this.#runner.getTask(id) === undefined) this.#chunks.delete(id);
    if (this.#chunks.size < MAX_STREAMING) return;
    let drop = Math.ceil(MAX_STREAMING / 10);
    for (const id of this.#chunks.keys()) {
      if (drop-- <= 0) break;
      this.#chunks.delete(id);
    }
  }

  /**
   * Transition `seq`'s event data: the same JSON `JSON.stringify({ type, task, from, to, event, at,
   * attempt })` gives, `task` being the task's row now. `undefined` when it has left the log.
   */
  transitionData(seq: number, rows: RowCache): string | undefined {
    if (seq > this.#seq || seq <= this.#seq - this.#capacity) return undefined;
    const slot = seq & this.#mask;
    const task = this.#tasks[slot]!;
    const from = this.#froms[slot]!;
    return `{"type":"transition","task":${rowJson(rows, task, this.#render)},"from":${from === null ? 'null' : `"${from}"`},"to":"${this.#tos[slot]!}","event":${JSON.stringify(this.#events[slot])},"at":${this.#ats[slot]!},"attempt":${this.#attempts[slot]!}}`;
  }

  #view(slot: number): TransitionView {
    return {
      from: this.#froms[slot]!,
      to: this.#tos[slot]!,
      event: this.#events[slot]!,
      at: this.#ats[slot]!,
      attempt: this.#attempts[slot]!,
    };
  }

  /**
   * The task's log: its creation and its last transitions (`MAX_LOG` in all). The ring gives its
   * newest transitions exactly; when some have left it, the task's context gives the rest (the
   * chart rebuilds a task's steps from its attempts and times: `historyOf`).
   */
  #logOf(task: BackgroundTask): TransitionView[] {
    const newest: TransitionView[] = [];
    let whole = false;
    const oldest = Math.max(1, this.#seq - this.#capacity + 1);
    for (let n = this.#seq; n >= oldest; n -= 1) {
      const slot = n & this.#mask;
      if (this.#tasks[slot] !== task) continue;
      newest.push(this.#view(slot));
      if (this.#froms[slot] === null) {
        whole = true;
        break;
      }
    }
    newest.reverse();
    let log = newest;
    if (!whole) {
      const steps = historyOf(task._status, task._context);
      log = [...steps.slice(0, Math.max(0, steps.length - newest.length)), ...newest];
    }
    return log.length > MAX_LOG ? [log[0]!, ...log.slice(log.length - MAX_LOG + 1)] : log;
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
    this.#log = undefined;
  }

  tasks(): TaskView[] {
    return this.#runner.tasks.map((task) => taskView(task, this.#render));
  }

  task(id: TaskId): TaskDetailView | undefined {
    const task = this.#runner.getTask(id);
    if (!task) return undefined;
    return {
      ...taskView(task, this.#render),
      transitions: this.#logOf(task),
      attempts: task.attempts.map((a) => ({
        attempt: a.attempt,
        startedAt: a.startedAt,
        completedAt: a.completedAt,
        error: showError(a.error, this.#render) ?? { name: 'Error', message: '' },
      })),
      recentChunks: [...(this.#chunks.get(id) ?? [])],
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
    this.#sendRunner();
  }

  resume(): void {
    this.#runner.resume();
    this.#sendRunner();
  }

  setConcurrency(n: number): void {
    this.#runner.setConcurrency(n);
    this.#sendRunner();
  }

  #sendRunner(): void {
    const message: SourceMessage = { type: 'runner', runner: this.runner() };
    this.#log?.message(message);
    this.#send(message);
  }

  /** Delivers every change as a {@link SourceMessage} (each transition's row built at once). */
  subscribe(listener: (message: SourceMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The event feed's way in: transitions as numbers into the log, rendered only when sent. */
  subscribeLog(listener: LogListener): () => void {
    this.#log = listener;
    return () => {
      if (this.#log === listener) this.#log = undefined;
    };
  }
}
