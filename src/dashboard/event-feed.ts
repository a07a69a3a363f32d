import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DashboardSource, SourceMessage } from './source.js';
import type { TaskId } from '../types.js';

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
 * The `/events` Server-Sent Events stream. Every source message gets the next id and is written
 * once as text, kept in a ring for resume, and sent to every client. Progress is coalesced per task;
 * the runner panel goes out at most once per progress tick, and only when it changed.
 *
 * A new connection first gets a `snapshot` event (every task and the runner panel) carrying the id
 * of the last message it includes; one that sends `Last-Event-ID` gets the messages after that id
 * instead, or a fresh `snapshot` when they have left the ring.
 * @internal
 */
export class EventFeed {
  readonly #source: DashboardSource;
  readonly #options: FeedOptions;
  readonly #clients = new Set<ServerResponse>();
  /** The last `historySize` messages: `[id, text]`, oldest first, as a ring. */
  readonly #ring: { id: number; text: string }[] = [];
  #ringStart = 0;
  #seq = 0;
  readonly #progress = new Map<TaskId, SourceMessage>();
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
    this.#unsubscribe = this.#source.subscribe((message) => this.#receive(message));
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
  }

  #receive(message: SourceMessage): void {
    if (message.type === 'progress') {
      this.#progress.set(message.task.id, message);
      return;
    }
    if (message.type === 'transition') {
      // The transition carries the task's latest view: a pending progress message is older.
      this.#progress.delete(message.task.id);
      this.#runnerDirty = true;
      this.#publish('transition', message);
      return;
    }
    this.#publishRunner(JSON.stringify(message.runner));
  }

  #flush(): void {
    if (this.#progress.size > 0) {
      for (const message of this.#progress.values()) this.#publish('progress', message);
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
    this.#write(this.#frame('runner', `{"type":"runner","runner":${json}}`));
  }

  #publish(event: string, message: SourceMessage): void {
    this.#write(this.#frame(event, JSON.stringify(message)));
  }

  /** Numbers a message, keeps it for resume, and returns its text. */
  #frame(event: string, data: string): string {
    const id = ++this.#seq;
    const text = `id: ${id}\nevent: ${event}\ndata: ${data}\n\n`;
    if (this.#ring.length < this.#options.historySize) this.#ring.push({ id, text });
    else {
      this.#ring[this.#ringStart] = { id, text };
      this.#ringStart = (this.#ringStart + 1) % this.#ring.length;
    }
    return text;
  }

  /** Frames not yet written: a burst of transitions becomes one socket write per client. */
  #outgoing = '';
  #writeScheduled = false;

  #write(text: string): void {
    if (this.#clients.size === 0) return;
    this.#outgoing += text;
    if (this.#writeScheduled) return;
    this.#writeScheduled = true;
    setImmediate(this.#drain);
  }

  readonly #drain = (): void => {
    this.#writeScheduled = false;
    const text = this.#outgoing;
    this.#outgoing = '';
    if (text === '') return;
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BACKLOG) {
        // Too far behind: drop it; the browser reconnects with Last-Event-ID and resumes.
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  };

  #beat(): void {
    if (this.#clients.size === 0) return;
    const text = `event: heartbeat\ndata: {"at":${Date.now()},"id":${this.#seq}}\n\n`;
    for (const res of this.#clients) res.write(text);
  }

  /** The kept messages after `id`, or `undefined` when some of them have left the ring. */
  #since(id: number): string[] | undefined {
    if (id === this.#seq) return [];
    if (id > this.#seq) return undefined; // from another server's life: start over
    const n = this.#ring.length;
    const oldest = n === 0 ? this.#seq + 1 : this.#ring[this.#ringStart % n]!.id;
    if (id < oldest - 1) return undefined;
    const out: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const entry = this.#ring[(this.#ringStart + i) % n]!;
      if (entry.id > id) out.push(entry.text);
    }
    return out;
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
    if (missed) for (const text of missed) res.write(text);
    else {
      const snapshot = { type: 'snapshot', tasks: this.#source.tasks(), runner: this.#source.runner() };
      // Carries the current id, so a reconnect after it resumes from here.
      res.write(`id: ${this.#seq}\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    }
    this.#clients.add(res);
    const drop = (): void => {
      this.#clients.delete(res);
    };
    req.on('close', drop);
    res.on('close', drop);
  }
}
