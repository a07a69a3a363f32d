import { assign, cancel, enqueueActions, fromCallback, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { isNonRetryable, TaskCancelledError, TaskTimeoutError } from '../errors.js';
import type { TaskId, TaskStatus } from '../types.js';

/** How long to wait between attempts. */
export interface Backoff {
  /** `fixed`: `delay` every time; `exponential`: `delay × 2^(attempt − 1)`. */
  readonly type: 'fixed' | 'exponential';
  /** Base delay in ms. */
  readonly delay: number;
  /** Upper bound in ms for exponential growth. @defaultValue no bound */
  readonly maxDelay?: number | undefined;
  /**
   * How much of each delay is randomised, from 0 (none) to 1 (anywhere between 0 and the delay).
   * The random part is derived from the task id and attempt, so a task's schedule is reproducible
   * while tasks that failed together spread out. @defaultValue 0
   */
  readonly jitter?: number | undefined;
}

/** One attempt's record, kept in `context.attempts`. */
export interface AttemptRecord {
  /** 1 for the first run. */
  readonly attempt: number;
  readonly startedAt: number;
  readonly completedAt: number;
  /** Why the attempt failed. */
  readonly error: Error;
}

/**
 * Everything a task knows about itself. The task actor's snapshot holds it as `context`; the
 * `BackgroundTask` handle reads its fields from here.
 *
 * Timestamps are epoch milliseconds carried in by events, so the machine never reads a clock.
 */
export interface TaskMachineContext {
  readonly taskId: TaskId;
  readonly name: string;
  /** Per-attempt timeout in ms, or `undefined` for none. */
  readonly timeout: number | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  /** When the first attempt started. */
  readonly startedAt: number | undefined;
  readonly completedAt: number | undefined;
  /** 0..1; 1 once completed. */
  readonly progress: number;
  readonly message: string | undefined;
  /**
   * How many items the work has streamed in the current attempt (work that returns an
   * `AsyncIterable`); 0 for other work.
   */
  readonly chunks: number;
  /** The last item the work streamed, if any. */
  readonly chunk: unknown;
  readonly result: unknown;
  readonly error: Error | undefined;
  /** The current (or last) attempt, 1-based; 0 before the first start. */
  readonly attempt: number;
  /** `retries + 1`. */
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  /** Whether a timed-out attempt is retried. */
  readonly retryOnTimeout: boolean;
  /** The failed attempts so far. */
  readonly attempts: readonly AttemptRecord[];
  /** When the current attempt started. */
  readonly attemptStartedAt: number | undefined;
  /** While `retrying`: when the next attempt starts. */
  readonly retryAt: number | undefined;
  /**
   * The work the `execute` actor runs, passed through as its input. Opaque to the machine.
   * @internal
   */
  readonly work: unknown;
}

/** What a task actor is created with. */
export interface TaskMachineInput {
  readonly taskId: TaskId;
  readonly name: string;
  readonly timeout: number | undefined;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly work: unknown;
  /** @defaultValue 1 (no retries) */
  readonly maxAttempts?: number | undefined;
  /** @defaultValue `{ type: 'fixed', delay: 0 }` */
  readonly backoff?: Backoff | undefined;
  /** @defaultValue true */
  readonly retryOnTimeout?: boolean | undefined;
}

/**
 * Commands a task actor accepts. `start` comes from the supervisor, `cancel` from the user,
 * `progress`/`done`/`error` from the running work; `timeout` and `retry` are delayed events the
 * machine schedules itself (on entering `running` and `retrying`). `lose` comes from a runner
 * reconciling a store: the process that ran the task died and the task cannot be re-run; `error`
 * says why (a `TaskLostError`).
 */
export type TaskMachineEvent =
  | { type: 'start'; at: number }
  | {
      type: 'progress';
      /** 0..1; absent to keep the current fraction (a streamed item with no known total). */
      fraction?: number | undefined;
      message?: string | undefined;
      /** A streamed item; the key is present only for items of a stream. */
      chunk?: unknown;
    }
  | { type: 'done'; output: unknown; at: number }
  | { type: 'error'; error: Error; at: number }
  | { type: 'timeout' }
  | { type: 'retry'; at: number }
  | { type: 'cancel'; at: number; reason?: string | undefined }
  | { type: 'lose'; at: number; error: Error };

/** The delayed events' ids, so leaving the state cancels exactly that timer. */
const TIMEOUT_ID = 'task.timeout';
const RETRY_ID = 'task.retry';

/** A number in [0, 1) from the task id and attempt (FNV-1a): jitter without a random source. */
function jitterFraction(taskId: TaskId, attempt: number): number {
  let hash = 0x811c9dc5;
  const key = `${taskId}:${attempt}`;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 2 ** 32;
}

/**
 * The wait before the attempt after `attempt` failed, in ms.
 *
 * @example
 * ```ts
 * backoffDelay({ type: 'exponential', delay: 100, maxDelay: 1_000 }, 4, 'id'); // 800
 * ```
 */
export function backoffDelay(backoff: Backoff, attempt: number, taskId: TaskId): number {
  const base = backoff.type === 'exponential' ? backoff.delay * 2 ** (attempt - 1) : backoff.delay;
  const capped = Math.min(base, backoff.maxDelay ?? Number.POSITIVE_INFINITY, 2_147_483_647);
  return Math.round(capped * (1 - (backoff.jitter ?? 0) * jitterFraction(taskId, attempt)));
}

/** A progress event's fraction: absent (keep the current one) or a number from 0 to 1. */
const isValidFraction = (fraction: number | undefined): boolean => fraction === undefined || (fraction >= 0 && fraction <= 1);

const canRetry = (c: TaskMachineContext, error: Error): boolean => c.attempt < c.maxAttempts && !isNonRetryable(error);
const canRetryTimeout = (c: TaskMachineContext): boolean => c.retryOnTimeout && c.attempt < c.maxAttempts;

// Context updates are plain functions so the compact (actor-less) path and the actor apply the
// very same change for the same event: see `transitionTask`.
const updates = {
  start: (c: TaskMachineContext, at: number): TaskMachineContext => ({
    ...c,
    startedAt: c.startedAt ?? at,
    attempt: c.attempt + 1,
    attemptStartedAt: at,
    retryAt: undefined,
    chunks: 0,
    chunk: undefined,
  }),
  progress: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'progress' }>): TaskMachineContext => {
    const streamed = 'chunk' in e;
    return {
      ...c,
      progress: e.fraction ?? c.progress,
      message: e.message ?? c.message,
      chunks: streamed ? c.chunks + 1 : c.chunks,
      chunk: streamed ? e.chunk : c.chunk,
    };
  },
  done: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'done' }>): TaskMachineContext => ({
    ...c,
    progress: 1,
    result: e.output,
    error: undefined,
    completedAt: e.at,
  }),
  /** An attempt failed with `error` at `at`; `retry` says whether another follows. */
  attemptFailed: (c: TaskMachineContext, error: Error, at: number, retry: boolean): TaskMachineContext => {
    const attempts = [...c.attempts, { attempt: c.attempt, startedAt: c.attemptStartedAt ?? at, completedAt: at, error }];
    return retry
      ? { ...c, attempts, error, retryAt: at + backoffDelay(c.backoff, c.attempt, c.taskId) }
      : { ...c, attempts, error, completedAt: at };
  },
  // The timeout fires exactly `timeout` ms after the attempt started, so its time needs no clock.
  timedOutAt: (c: TaskMachineContext): number => (c.attemptStartedAt ?? c.createdAt) + (c.timeout ?? 0),
  cancel: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'cancel' }>): TaskMachineContext => ({
    ...c,
    error: new TaskCancelledError(c.taskId, e.reason),
    completedAt: e.at,
    retryAt: undefined,
  }),
  lose: (c: TaskMachineContext, e: Extract<TaskMachineEvent, { type: 'lose' }>): TaskMachineContext => ({
    ...c,
    error: e.error,
    completedAt: e.at,
    retryAt: undefined,
  }),
};

const timeoutError = (c: TaskMachineContext) => new TaskTimeoutError(c.taskId, c.timeout ?? 0);

/** What the `execute` actor is given: the task's work and which attempt to run. */
export interface ExecuteInput {
  readonly work: unknown;
  readonly attempt: number;
}

/**
 * The default `execute` actor: it never settles. The runner provides the real one (see
 * `src/actors/run-function.ts`); tests provide their own with `taskMachine.provide()`.
 */
const idleWork = fromCallback<TaskMachineEvent, ExecuteInput>(() => undefined);

/**
 * One task's lifecycle: `pending → running → completed | failed | cancelled | lost`, with
 * `retrying` between attempts.
 *
 * - `running` invokes the `execute` actor with the task's work; leaving `running` for any reason
 *   stops that actor, which aborts the work's `AbortSignal`.
 * - When the task has a `timeout`, entering `running` schedules a delayed `timeout` event (through
 *   the actor system's clock, so fake timers and `SimulatedClock` drive it); with no timeout no
 *   timer exists at all. Leaving `running` cancels it.
 * - A failed attempt with attempts left (and not a `NonRetryableError`; a timeout only with
 *   `retryOnTimeout`) goes to `retrying`, which schedules a delayed `retry` event after the
 *   backoff and then runs the work again.
 * - `cancel` ends `pending`, `running` and `retrying` in `cancelled`; final states ignore every
 *   event, so a task reaches exactly one final state whatever races.
 *
 * The machine is pure: no I/O, timers of its own, clock reads or randomness. Times arrive in events.
 *
 * @example
 * ```ts
 * import { createActor, fromCallback } from 'xstate';
 * const machine = taskMachine.provide({
 *   actors: { execute: fromCallback(({ sendBack }) => { sendBack({ type: 'done', output: 42, at: 0 }); }) },
 * });
 * const actor = createActor(machine, { input: { taskId: 't1', name: 't1', timeout: undefined, metadata: {}, createdAt: 0, work: null } }).start();
 * actor.send({ type: 'start', at: 0 });
 * ```
 */
export const taskMachine = setup({
  types: {} as {
    context: TaskMachineContext;
    events: TaskMachineEvent;
    input: TaskMachineInput;
  },
  actors: { execute: idleWork },
  guards: {
    isValidProgress: ({ event }) => event.type === 'progress' && isValidFraction(event.fraction),
    canRetryError: ({ context, event }) => event.type === 'error' && canRetry(context, event.error),
    canRetryTimeout: ({ context }) => canRetryTimeout(context),
  },
  delays: {
    timeout: ({ context }) => context.timeout ?? 0,
  },
  actions: {
    scheduleTimeout: enqueueActions(({ context, enqueue }) => {
      if (context.timeout !== undefined) enqueue.raise({ type: 'timeout' }, { id: TIMEOUT_ID, delay: 'timeout' });
    }),
    cancelTimeout: cancel(TIMEOUT_ID),
    scheduleRetry: enqueueActions(({ context, enqueue }) => {
      const failedAt = context.attempts.at(-1)?.completedAt ?? 0;
      const at = context.retryAt ?? failedAt;
      enqueue.raise({ type: 'retry', at }, { id: RETRY_ID, delay: Math.max(0, at - failedAt) });
    }),
    cancelRetry: cancel(RETRY_ID),
  },
}).createMachine({
  id: 'task',
  initial: 'pending',
  context: ({ input }) => initialTaskContext(input),
  states: {
    pending: {
      on: {
        start: { target: 'running', actions: assign(({ context, event }) => updates.start(context, event.at)) },
        cancel: { target: 'cancelled', actions: assign(({ context, event }) => updates.cancel(context, event)) },
        lose: { target: 'lost', actions: assign(({ context, event }) => updates.lose(context, event)) },
      },
    },
    running: {
      entry: 'scheduleTimeout',
      exit: 'cancelTimeout',
      invoke: {
        id: 'execute',
        src: 'execute',
        input: ({ context }: { context: TaskMachineContext }): ExecuteInput => ({ work: context.work, attempt: context.attempt }),
      },
      on: {
        progress: {
          guard: 'isValidProgress',
          actions: assign(({ context, event }) => updates.progress(context, event)),
        },
        done: { target: 'completed', actions: assign(({ context, event }) => updates.done(context, event)) },
        error: [
          {
            guard: 'canRetryError',
            target: 'retrying',
            actions: assign(({ context, event }) => updates.attemptFailed(context, event.error, event.at, true)),
          },
          { target: 'failed', actions: assign(({ context, event }) => updates.attemptFailed(context, event.error, event.at, false)) },
        ],
        timeout: [
          {
            guard: 'canRetryTimeout',
            target: 'retrying',
            actions: assign(({ context }) => updates.attemptFailed(context, timeoutError(context), updates.timedOutAt(context), true)),
          },
          {
            target: 'failed',
            actions: assign(({ context }) => updates.attemptFailed(context, timeoutError(context), updates.timedOutAt(context), false)),
          },
        ],
        cancel: { target: 'cancelled', actions: assign(({ context, event }) => updates.cancel(context, event)) },
        lose: { target: 'lost', actions: assign(({ context, event }) => updates.lose(context, event)) },
      },
    },
    retrying: {
      entry: 'scheduleRetry',
      exit: 'cancelRetry',
      on: {
        retry: { target: 'running', actions: assign(({ context, event }) => updates.start(context, event.at)) },
        cancel: { target: 'cancelled', actions: assign(({ context, event }) => updates.cancel(context, event)) },
        lose: { target: 'lost', actions: assign(({ context, event }) => updates.lose(context, event)) },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
    lost: { type: 'final' },
  },
});

/** A task actor: what `task.actor` returns. */
export type TaskActor = ActorRefFrom<typeof taskMachine>;
/** A task actor's snapshot: what `task.subscribe()` observers receive. */
export type TaskSnapshot = SnapshotFrom<typeof taskMachine>;

/** @internal Builds the initial context, as the machine's `context` factory does. */
export function initialTaskContext(input: TaskMachineInput): TaskMachineContext {
  // Every field listed in one order, so all contexts share one hidden class (spreading `input`
  // here cost a quarter of a no-op task's time).
  return {
    taskId: input.taskId,
    name: input.name,
    timeout: input.timeout,
    metadata: input.metadata,
    createdAt: input.createdAt,
    startedAt: undefined,
    completedAt: undefined,
    progress: 0,
    message: undefined,
    chunks: 0,
    chunk: undefined,
    result: undefined,
    error: undefined,
    attempt: 0,
    maxAttempts: input.maxAttempts ?? 1,
    backoff: input.backoff ?? NO_BACKOFF,
    retryOnTimeout: input.retryOnTimeout ?? true,
    attempts: NO_ATTEMPTS,
    attemptStartedAt: undefined,
    retryAt: undefined,
    work: input.work,
  };
}

const NO_BACKOFF: Backoff = Object.freeze({ type: 'fixed', delay: 0 });
const NO_ATTEMPTS: readonly AttemptRecord[] = Object.freeze([]);

/**
 * @internal
 * The machine's transitions as a plain function, for tasks nobody observes: the runner keeps those
 * as compact records and only creates an actor when someone looks (`task.actor`, `subscribe`, an
 * inspector). Returns the next state and context, or `undefined` when the event is ignored.
 *
 * It must agree with {@link taskMachine} on every path; `test/machines/task-machine.test.ts`
 * walks all of them with `@xstate/graph` and compares.
 */
export function transitionTask(
  status: TaskStatus,
  context: TaskMachineContext,
  event: TaskMachineEvent,
): [TaskStatus, TaskMachineContext] | undefined {
  if (event.type === 'cancel' || event.type === 'lose') {
    if (status !== 'pending' && status !== 'running' && status !== 'retrying') return undefined;
    return event.type === 'cancel' ? ['cancelled', updates.cancel(context, event)] : ['lost', updates.lose(context, event)];
  }
  if (status === 'pending') return event.type === 'start' ? ['running', updates.start(context, event.at)] : undefined;
  if (status === 'retrying') return event.type === 'retry' ? ['running', updates.start(context, event.at)] : undefined;
  if (status !== 'running') return undefined;
  switch (event.type) {
    case 'progress':
      return isValidFraction(event.fraction) ? ['running', updates.progress(context, event)] : undefined;
    case 'done':
      return ['completed', updates.done(context, event)];
    case 'error': {
      const retry = canRetry(context, event.error);
      return [retry ? 'retrying' : 'failed', updates.attemptFailed(context, event.error, event.at, retry)];
    }
    case 'timeout': {
      const retry = canRetryTimeout(context);
      return [retry ? 'retrying' : 'failed', updates.attemptFailed(context, timeoutError(context), updates.timedOutAt(context), retry)];
    }
    default:
      return undefined;
  }
}

/**
 * @internal
 * The type of the event that took a task from `from` to `to`, read from the chart's targets and the
 * new context: for a task actor, whose snapshot does not carry the event that produced it.
 */
export function causeOf(from: TaskStatus, to: TaskStatus, context: TaskMachineContext): TaskMachineEvent['type'] {
  switch (to) {
    case 'running':
      return from === 'retrying' ? 'retry' : 'start';
    case 'completed':
      return 'done';
    case 'cancelled':
      return 'cancel';
    case 'lost':
      return 'lose';
    default: {
      // `retrying` or `failed`: an attempt failed, by the work's error or by the timeout.
      const error = context.error;
      return error instanceof TaskTimeoutError && error.taskId === context.taskId ? 'timeout' : 'error';
    }
  }
}

/** @internal The time the chart recorded for entering `status`, from the context (no clock read). */
export function enteredAt(status: TaskStatus, context: TaskMachineContext): number {
  switch (status) {
    case 'pending':
      return context.createdAt;
    case 'running':
      return context.attemptStartedAt ?? context.createdAt;
    case 'retrying':
      return context.attempts.at(-1)?.completedAt ?? context.createdAt;
    default:
      return context.completedAt ?? context.createdAt;
  }
}
