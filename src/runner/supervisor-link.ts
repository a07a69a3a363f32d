import { createActor } from 'xstate';
import { supervisorMachine, syncInPlace } from '../machines/supervisor-machine.js';
import type { QueuedTask, SupervisorActor, SupervisorOutbox } from '../machines/supervisor-machine.js';
import type { ErrorSource } from './events.js';
import type { ResolvedConfig } from './options.js';

/** The facts of one microtask, sent to the supervisor as its `sync` event (`at` is set at the flush). */
interface Batch {
  readonly type: 'sync';
  readonly submitted: QueuedTask[];
  readonly returned: QueuedTask[];
  readonly withdrawn: QueuedTask[];
  readonly settled: QueuedTask[];
  at: number;
}

/** @internal What the supervisor asks of the runner. */
export interface SupervisorRequests extends SupervisorOutbox {
  /** `stop({ drain: true, timeout })` ran out of time: cancel what still runs. */
  drainTimedOut(): void;
}

/**
 * @internal
 * The runner's side of its supervisor actor: it gathers what happened to tasks during a microtask
 * into one `sync` event, flushes it (in place while nothing observes the supervisor, see
 * `syncInPlace`), and forwards the supervisor's `admit`/`remove`/`drainTimedOut` requests.
 */
export class SupervisorLink {
  readonly actor: SupervisorActor;
  readonly #now: () => number;
  readonly #requests: SupervisorRequests;
  /** What the supervisor has not been told yet; sent as one `sync` event per microtask. */
  #batch: Batch | undefined;
  /** A batch the in-place path is done with, emptied, for the next microtask (no garbage per task). */
  #spareBatch: Batch | undefined;
  /** Whether an inspector watches the actor: then every `sync` goes through it. Fixed at creation. */
  readonly #observed: boolean;
  #closed = false;
  /**
   * `pause()` was called and `resume()` not since. Read while a batch of admissions starts, when
   * the actor may not have taken the `pause` in yet (it was sent from inside its own `admit`).
   */
  #pauseRequested = false;
  /** `maxConcurrentTasks` as last set, read like `#pauseRequested`. */
  #limit: number;

  /**
   * @param report - where a failure of the `clock` option's `setTimeout` is reported (`'error'`,
   *   source `'clock'`); the supervisor then uses a real timer instead.
   */
  constructor(
    config: ResolvedConfig,
    requests: SupervisorRequests,
    report: (error: unknown, source: ErrorSource, taskId: undefined) => void,
  ) {
    const { clock } = config;
    this.#now = clock.now;
    this.#requests = requests;
    this.#limit = config.maxConcurrentTasks;
    // tasklane's own timers never hold the process open: the work's own I/O does, and a finished
    // task's cleanup timer must not keep a script alive for `cleanupDelay`.
    const systemClock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
        try {
          return unref(clock.setTimeout(fn, ms));
        } catch (error) {
          // A clock that throws must not kill the supervisor (its timers are the sweep, the rate
          // limit's tick and the drain timeout): report it and fall back to the real timer.
          report(error, 'clock', undefined);
          return new FallbackTimer(unref(setTimeout(fn, ms)));
        }
      },
      clearTimeout: (id: unknown) => (id instanceof FallbackTimer ? clearTimeout(id.handle) : clock.clearTimeout(id)),
    };
    this.actor = createActor(supervisorMachine, {
      id: 'supervisor',
      input: {
        maxConcurrentTasks: config.maxConcurrentTasks,
        autoCleanup: config.autoCleanup,
        cleanupDelay: config.cleanupDelay,
        maxFinishedTasks: config.maxFinishedTasks,
        rateLimit: config.rateLimit,
        groupRateLimit: config.groupRateLimit,
        now: clock.now(),
      },
      clock: systemClock,
      inspect: config.inspect,
    });
    this.#observed = config.inspect !== undefined;
    this.actor.on('admit', ({ tasks }) => requests.admit(tasks));
    this.actor.on('remove', ({ tasks }) => requests.remove(tasks));
    this.actor.on('drainTimedOut', () => requests.drainTimedOut());
    this.actor.start();
  }

  /** A task was queued. */
  submitted(entry: QueuedTask): void {
    this.#open()?.submitted.push(entry);
  }

  /**
   * An admitted task that was not started goes back to the queue, in its place (its entry keeps
   * its `seq`), and its slot is freed.
   */
  giveBack(entry: QueuedTask): void {
    this.#open()?.returned.push(entry);
  }

  /**
   * A task ended after being admitted (`settled`: its slot is free), or without a slot (`withdrawn`:
   * cancelled while queued, or known only as finished). `entry` is the one it was submitted with,
   * or a fresh one for a task the supervisor never queued.
   */
  tell(kind: 'withdrawn' | 'settled', entry: QueuedTask): void {
    this.#open()?.[kind].push(entry);
  }

  /** Sends a command (after what is batched, so it applies to every task submitted before it). */
  send(event: { type: 'pause' | 'resume'; at: number } | { type: 'configure'; maxConcurrentTasks: number; at: number }): void {
    if (event.type === 'pause') this.#pauseRequested = true;
    else if (event.type === 'resume') this.#pauseRequested = false;
    else if (event.type === 'configure') this.#limit = event.maxConcurrentTasks;
    this.flush();
    this.actor.send(event);
  }

  /**
   * Whether a batch of admissions must stop before starting one more task, `running` counting the
   * ones it started: a 'started' listener paused the runner or lowered its concurrency. Read from
   * what was requested, not from the actor, which may not have taken the request in yet.
   */
  holdsBack(running: number): boolean {
    return this.#pauseRequested || running >= this.#limit;
  }

  /** `pause()` was called and `resume()` not since (even if the actor has not taken it in yet). */
  get pauseRequested(): boolean {
    return this.#pauseRequested;
  }

  /** Whether `stop()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many admitted tasks have not settled, as the supervisor counts them. */
  get running(): number {
    return this.actor.getSnapshot().context.running;
  }

  drain(timeout: number | undefined): void {
    this.actor.send({ type: 'drain', timeout, at: this.#now() });
  }

  /** Stops the supervisor: no more batches, its timers cleared. */
  stop(): void {
    this.#closed = true;
    this.#batch = undefined;
    this.actor.send({ type: 'stop' });
  }

  get isPaused(): boolean {
    return this.actor.getSnapshot().value === 'paused';
  }

  get maxConcurrentTasks(): number {
    return this.actor.getSnapshot().context.maxConcurrentTasks;
  }

  /** The open batch; the first fact in a microtask schedules the flush. */
  #open(): Batch | undefined {
    if (this.#closed) return undefined;
    if (!this.#batch) {
      this.#batch = this.#spareBatch ?? { type: 'sync', submitted: [], returned: [], withdrawn: [], settled: [], at: 0 };
      this.#spareBatch = undefined;
      queueMicrotask(this.flush);
    }
    return this.#batch;
  }

  readonly flush = (): void => {
    const batch = this.#batch;
    this.#batch = undefined;
    if (!batch || this.#closed) return;
    batch.at = this.#now();
    if (!this.#observed && syncInPlace(this.actor.getSnapshot(), batch, this.#requests)) {
      // Nothing kept a reference to it (an event sent to the actor may be kept by an inspector).
      // (Setting `length` is a call into the runtime even on an empty array: most batches carry one kind.)
      if (batch.submitted.length !== 0) batch.submitted.length = 0;
      if (batch.returned.length !== 0) batch.returned.length = 0;
      if (batch.withdrawn.length !== 0) batch.withdrawn.length = 0;
      if (batch.settled.length !== 0) batch.settled.length = 0;
      this.#spareBatch = batch;
      return;
    }
    this.actor.send(batch);
  };
}

/** @internal A timer handle that does not hold the process open. */
export function unref<T>(handle: T): T {
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return handle;
}

/** A real timer standing in for one the runner's clock failed to create. */
class FallbackTimer {
  constructor(readonly handle: ReturnType<typeof setTimeout>) {}
}
