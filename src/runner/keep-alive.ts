import { MAX_DELAY_MS } from '../validate.js';

// The real timers, read once at load: the keep-alive handle must hold the real event loop even
// when a test installs fake timers later (and must not show up among the fake ones).
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
type Handle = ReturnType<typeof setInterval> & { ref?(): unknown; unref?(): unknown };
const noop = (): void => undefined;

/**
 * @internal
 * Holds the process open while a runner has work to finish, with one real interval that never
 * fires, ref'd while held and unref'd otherwise. So every other timer of the runner (on an
 * injectable clock) can stay unref'd: a script ends when its work is done, yet no task waiting for
 * a retry, a rate-limit window or its timeout is cut off. The task driver decides when to hold.
 */
export class KeepAlive {
  #handle: Handle | undefined;
  #holding = false;

  /** Whether the process is held now. */
  get holding(): boolean {
    return this.#holding;
  }

  /** Holds the process open (`true`) or lets it go (`false`). */
  set(hold: boolean): void {
    if (hold === this.#holding) return;
    this.#holding = hold;
    if (hold) (this.#handle ??= realSetInterval(noop, MAX_DELAY_MS) as Handle).ref?.();
    else this.#handle?.unref?.();
  }

  /** Lets the process go for good and clears the interval. */
  close(): void {
    this.set(false);
    if (this.#handle !== undefined) realClearInterval(this.#handle);
    this.#handle = undefined;
  }
}
