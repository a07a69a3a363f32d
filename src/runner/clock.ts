/**
 * The clock the runner schedules timers on and reads the time from. xstate's `SimulatedClock`
 * fits it; so does `{ setTimeout, clearTimeout, now: Date.now }`.
 */
export interface RunnerClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
  /** Epoch milliseconds. Defaults to `Date.now()`. */
  now?(): number;
}
