import { WaitTimeoutError } from '../errors.js';
import type { RunnerClock } from './options.js';

/**
 * @internal
 * Who waits for the runner to be idle (`onIdle()`, `waitAll()`): released all at once when the
 * last active task finishes, or when the runner stops.
 */
export class IdleWaiters {
  readonly #clock: Required<RunnerClock>;
  #waiters: (() => void)[] = [];

  constructor(clock: Required<RunnerClock>) {
    this.#clock = clock;
  }

  /** Resolves at the next `release()`; rejects with `WaitTimeoutError` after `timeout` ms first. */
  wait(timeout?: number): Promise<void> {
    if (timeout === undefined) return new Promise<void>((resolve) => this.#waiters.push(resolve));
    return new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        this.#clock.clearTimeout(timer);
        resolve();
      };
      const timer = this.#clock.setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new WaitTimeoutError(undefined, timeout));
      }, timeout);
      this.#waiters.push(waiter);
    });
  }

  release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
