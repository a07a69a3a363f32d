import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardSource, SourceMessage } from './source.js';
import type { TaskId } from '../types.js';
import { RunnerSource } from './runner-source.js';
import type { RowCache } from './runner-source.js';

/** The feed's timing and memory; defaults in `serve-dashboard.ts`. */
export interface FeedOptions {
  /** How often a heartbeat goes out, in ms. */
  readonly heartbeatMs: number;
  /** At most one progress message per task per this many ms. */
  readonly progressMs: number;
  /** How many messages are kept for `Last-Event-ID` resume. */
  readonly historySize: number;
}

/** A client that falls this far behind (bytes not yet sent) is dropped; it reconnects and resumes. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/**
 * A message that renders its own event data when a client needs it (the runner's source sends
 * these for progress, so a report costs no view and no JSON until then); any other message is
 * `JSON.stringify`d.
 */
interface SelfRendering {
  readonly type: 'progress';
  readonly taskId: TaskId;
  data(rows: RowCache): string;
}

/**
 * What the ring holds: a transition of the runner's source (its number in the source's log), a
 * source message, or a runner panel's JSON (already text).
 */
type Entry = number | SourceMessage | SelfRendering | string;

const isSelfRendering = (message: SourceMessage | SelfRendering): message is SelfRendering =>
  typeof (message as Partial<SelfRendering>).data === 'function';
const taskIdOf = (message: SourceMessage | SelfRendering): TaskId =>
  isSelfRendering(message) ? message.taskId : (message as { task: { id: TaskId } }).task.id;
const isRunnerSource = (source: DashboardSource): source is RunnerSource => source instanceof RunnerSource;

/**
 * The `/events` Server-Sent Events stream. Every source message gets the next id and is kept, as it
 * came, in a ring for resume; it is turned into text only when it goes out: once for all the
 * clients connected (one socket write each per event-loop turn), or for a client that resumes. With
 * no client connected a transition costs an id and a number in the ring. Progress is coalesced per
 * task; the runner panel goes out at most once per progress tick, and only when it changed.
 *
 * A new connection first gets a `snapshot` event (every task and the runner panel) carrying the id
 * of the last message it includes; one that sends `Last-Event-ID` gets the messages after that id
 * instead, or a fresh `snapshot` when they have left the ring. Likewise, when more messages pile
 * up within one event-loop turn than the ring holds (a burst of thousands of tasks), the connected
 * clients get one fresh `snapshot` instead of them: what a client that fell that far behind would
 * get on reconnecting, for a fraction of the work.
 * @internal
 */
export class EventFeed {
  readonly #source: DashboardSource;
  readonly #options: FeedOptions;
  readonly #clients = new Set<ServerResponse>();
  /** The last `historySize` entries; the one with id `n` sits at `n % historySize`. */
  readonly #ring: Entry[] = [];
  #seq = 0;
  /** Where entry `#seq` sits in `#ring`: `#seq % historySize`. */
  #at = 0;
  /** How many entries have not been written to the connected clients yet (ids up to `#seq`). */
  #unsent = 0;
  #writeScheduled = false;
  readonly #progress = new Map<TaskId, SourceMessage | SelfRendering>();
  #runnerDirty = false;
  #lastRunner = '';
  #unsubscribe: (() => void) | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(source: DashboardSource, options: FeedOptions) {
    this.#source = source;
    this.#options = options;
  }

  /** How many clients are connected. */
  get clients(): number {
    return this.#clients.size;
  }

  open(): void {
    const source = this.#source;
    this.#unsubscribe = isRunnerSource(source)
      ? source.subscribeLog({ transition: this.#onTransition, message: (message) => this.#receive(message) })
      : source.subscribe((message) => this.#receive(message));
    this.#tick = setInterval(() => this.#flush(), this.#options.progressMs);
    this.#tick.unref();
    this.#heartbeat = setInterval(() => this.#beat(), this.#options.heartbeatMs);
    this.#heartbeat.unref();
  }

  close(): void {
    this.#unsubscribe?.();
    clearInterval(this.#tick);
    clearInterval(this.#heartbeat);
    for (const res of this.#clients) res.end();
    this.#clients.clear();
    this.#unsent = 0;
  }

  /** A transition of the runner's source: the hot path, one call per transition of the runner. */
  readonly #onTransition = (seq: number, taskId: TaskId): void => {
    // The transition carries the task's latest row: a pending progress message is older.
    if (this.#progress.size > 0) this.#progress.delete(taskId);
    this.#runnerDirty = true;
    this.#push(seq);
  };

  #receive(message: SourceMessage | SelfRendering): void {
    if (message.type === 'progress') {
      this.#progress.set(taskIdOf(message), message);
      return;
    }
    if (message.type === 'transition') {
      if (this.#progress.size > 0) this.#progress.delete(message.task.id);
      this.#runnerDirty = true;
      this.#push(message);
      return;
    }
    this.#publishRunner(JSON.stringify(message.runner));
  }

  #flush(): void {
    if (this.#progress.size > 0) {
      for (const message of this.#progress.values()) this.#push(message);
      this.#progress.clear();
    }
    if (this.#runnerDirty) {
      this.#runnerDirty = false;
      this.#publishRunner(JSON.stringify(this.#source.runner()));
    }
  }

  #publishRunner(json: string): void {
    if (json === this.#lastRunner) return;
    this.#lastRunner = json;
    this.#push(json);
  }

  /** Numbers an entry, keeps it for resume, and queues it for the connected clients. */
  #push(entry: Entry): void {
    ++this.#seq;
    // `#seq % historySize`, kept by counting (a division per transition shows in a W1 burst).
    const at = this.#at + 1;
    this.#at = at === this.#options.historySize ? 0 : at;
    this.#ring[this.#at] = entry;
    if (this.#clients.size === 0) return;
    this.#unsent += 1;
    if (this.#writeScheduled) return;
    this.#writeScheduled = true;
    setImmediate(this.#drain);
  }

  /** One entry as an SSE frame. */
  #frame(id: number, entry: Entry, rows: RowCache): string {
    if (typeof entry === 'number') {
      const data = (this.#source as RunnerSource).transitionData(entry, rows);
      // Unreachable while the source's log holds at least `historySize` transitions (it does).
      if (data === undefined) return ': transition no longer kept\n\n';
      return `id: ${id}\nevent: transition\ndata: ${data}\n\n`;
    }
    if (typeof entry === 'string') return `id: ${id}\nevent: runner\ndata: {"type":"runner","runner":${entry}}\n\n`;
    const data = isSelfRendering(entry) ? entry.data(rows) : JSON.stringify(entry);
    return `id: ${id}\nevent: ${entry.type}\ndata: ${data}\n\n`;
  }

  /** The current `snapshot` event: every task and the runner panel, as of id `#seq`. */
  #snapshot(): string {
    const snapshot = { type: 'snapshot', tasks: this.#source.tasks(), runner: this.#source.runner() };
    // Carries the current id, so a reconnect after it resumes from here.
    return `id: ${this.#seq}\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
  }

  /** Renders what is unsent once, and writes it to every client: one socket write each per turn. */
  readonly #drain = (): void => {
    this.#writeScheduled = false;
    const count = this.#unsent;
    if (count === 0) return;
    this.#unsent = 0;
    if (this.#clients.size === 0) return;
    let text: string;
    if (count >= this.#options.historySize) {
      // More than a resume could replay: a fresh snapshot says the same in far fewer bytes.
      text = this.#snapshot();
    } else {
      text = '';
      const rows: RowCache = new Map();
      const size = this.#options.historySize;
      for (let id = this.#seq - count + 1; id <= this.#seq; id += 1) text += this.#frame(id, this.#ring[id % size]!, rows);
    }
    // Encoded once, not once per client.
    const bytes = Buffer.from(text);
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BACKLOG) {
        // Too far behind: drop it; the browser reconnects with Last-Event-ID and resumes.
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(bytes);
    }
  };

  #beat(): void {
    if (this.#clients.size === 0) return;
    const text = `event: heartbeat\ndata: {"at":${Date.now()},"id":${this.#seq}}\n\n`;
    for (const res of this.#clients) res.write(text);
  }

  /** The kept entries after `id` as frames, or `undefined` when some of them have left the ring. */
  #since(id: number): string | undefined {
    if (id === this.#seq) return '';
    if (id > this.#seq) return undefined; // from another server's life: start over
    const size = this.#options.historySize;
    const oldest = Math.max(1, this.#seq - size + 1);
    if (id < oldest - 1) return undefined;
    let text = '';
    const rows: RowCache = new Map();
    for (let n = id + 1; n <= this.#seq; n += 1) text += this.#frame(n, this.#ring[n % size]!, rows);
    return text;
  }

  /** Serves one `/events` request until the client goes away. */
  attach(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.write('retry: 1000\n\n');
    // Send what is coalesced or buffered so far to the others first, so that what this client
    // gets (a snapshot or the ring) and what follows on the stream neither overlap nor leave a gap.
    this.#flush();
    this.#drain();
    const header = req.headers['last-event-id'];
    const lastId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    const missed = lastId === undefined ? undefined : this.#since(lastId);
    res.write(missed ?? this.#snapshot());
    this.#clients.add(res);
    const drop = (): void => {
      this.#clients.delete(res);
    };
    req.on('close', drop);
    res.on('close', drop);
  }
}
