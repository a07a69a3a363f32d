import { Fifo } from './fifo.js';

/** A rate limit: at most `max` starts in any `interval` ms. */
export interface RateLimit {
  readonly max: number;
  readonly interval: number;
}

/**
 * A sliding-window log of start times: allows a start when fewer than `max` happened in the last
 * `interval` ms. Times come from the caller (the supervisor's event times), never from a clock.
 */
export class RateWindow {
  readonly limit: RateLimit;
  readonly #starts = new Fifo<number>();

  constructor(limit: RateLimit) {
    this.limit = limit;
  }

  /** Whether one more start is allowed at `now`. */
  allows(now: number): boolean {
    this.#expire(now);
    return this.#starts.size < this.limit.max;
  }

  record(now: number): void {
    this.#starts.push(now);
  }

  /** When the next start becomes allowed (only meaningful when `allows(now)` is false). */
  freesAt(now: number): number {
    this.#expire(now);
    const oldest = this.#starts.peek();
    return oldest === undefined ? now : oldest + this.limit.interval;
  }

  #expire(now: number): void {
    for (let t = this.#starts.peek(); t !== undefined && t <= now - this.limit.interval; t = this.#starts.peek()) {
      this.#starts.shift();
    }
  }
}
