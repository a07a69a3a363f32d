import { request } from 'node:http';
import type { ClientRequest } from 'node:http';

/** One parsed Server-Sent Event. */
export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * A minimal SSE reader over `node:http` for tests and the bench: collects events and lets a
 * caller wait for the first one that matches.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  #request: ClientRequest | undefined;
  #waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  #onEvent: ((e: SseEvent) => void) | undefined;

  constructor(onEvent?: (e: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  /** Connects and resolves with the response status once the headers arrive. */
  open(url: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        resolve(res.statusCode ?? 0);
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            this.#parse(block);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (error) => {
        if (!this.#request?.destroyed) reject(error);
      });
      req.end();
      this.#request = req;
    });
  }

  #parse(block: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    const parsed = { id, event, data: data.join('\n') };
    this.events.push(parsed);
    this.#onEvent?.(parsed);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(parsed)) return true;
      w.resolve(parsed);
      return false;
    });
  }

  /** Resolves with the first event (already received or to come) that matches. */
  next(match: (e: SseEvent) => boolean): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  /** The id of the last event that carried one. */
  get lastId(): string | undefined {
    for (let i = this.events.length - 1; i >= 0; i -= 1) if (this.events[i]!.id !== undefined) return this.events[i]!.id;
    return undefined;
  }

  close(): void {
    this.#request?.destroy();
  }
}
