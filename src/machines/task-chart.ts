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
 * Timestamps are epoch milliseconds carried in by events, so the chart never reads a clock.
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
   * The work the `execute` actor runs, passed through as its input. Opaque to the chart.
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
 * Commands a task accepts. `start` comes from the supervisor, `cancel` from the user,
 * `progress`/`done`/`error` from the running work; `timeout` and `retry` are delayed events the
 * chart schedules itself (on entering `running` and `retrying`). `lose` comes from a runner
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

/** The type of a task event. */
export type TaskEventType = TaskMachineEvent['type'];

type EventOf<T extends TaskEventType> = Extract<TaskMachineEvent, { type: T }>;

// ------------------------------------------------------------------ pure helpers

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

const NO_BACKOFF: Backoff = Object.freeze({ type: 'fixed', delay: 0 });
const NO_ATTEMPTS: readonly AttemptRecord[] = Object.freeze([]);

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

/** A progress event's fraction: absent (keep the current one) or a number from 0 to 1. */
const isValidFraction = (fraction: number | undefined): boolean => fraction === undefined || (fraction >= 0 && fraction <= 1);

function attemptFailed(c: TaskMachineContext, error: Error, at: number, retry: boolean): TaskContextPatch {
  const attempts = [...c.attempts, { attempt: c.attempt, startedAt: c.attemptStartedAt ?? at, completedAt: at, error }];
  return retry ? { attempts, error, retryAt: at + backoffDelay(c.backoff, c.attempt, c.taskId) } : { attempts, error, completedAt: at };
}

// The timeout fires exactly `timeout` ms after the attempt started, so its time needs no clock.
const timedOutAt = (c: TaskMachineContext): number => (c.attemptStartedAt ?? c.createdAt) + (c.timeout ?? 0);
const timeoutError = (c: TaskMachineContext) => new TaskTimeoutError(c.taskId, c.timeout ?? 0);

function started(c: TaskMachineContext, at: number): TaskContextPatch {
  return {
    startedAt: c.startedAt ?? at,
    attempt: c.attempt + 1,
    attemptStartedAt: at,
    retryAt: undefined,
    chunks: 0,
    chunk: undefined,
  };
}

// ------------------------------------------------------------------ the chart's named parts

/**
 * The chart's guards: pure predicates of the context and the event. The machine's `setup()` and
 * the stepper both call these very functions.
 */
export const taskGuards = {
  /** A progress report whose fraction is absent or within 0..1. */
  isValidProgress: (_c: TaskMachineContext, e: TaskMachineEvent) => e.type === 'progress' && isValidFraction(e.fraction),
  /** Attempts are left and the error is not a `NonRetryableError`. */
  canRetryError: (c: TaskMachineContext, e: TaskMachineEvent) =>
    e.type === 'error' && c.attempt < c.maxAttempts && !isNonRetryable(e.error),
  /** Attempts are left and timed-out attempts are retried. */
  canRetryTimeout: (c: TaskMachineContext) => c.retryOnTimeout && c.attempt < c.maxAttempts,
} satisfies Record<string, (context: TaskMachineContext, event: TaskMachineEvent) => boolean>;

/** The name of one of {@link taskGuards}. */
export type TaskGuardName = keyof typeof taskGuards;

/** The fields of a task's context an update changes. */
export type TaskContextPatch = Partial<TaskMachineContext>;

/**
 * The chart's context updates: each returns the fields its event changes. The machine runs them
 * as `assign` actions (which merge them into a new context); the stepper merges them into a copy,
 * or into the context itself where nobody can see the difference (see {@link stepTask}).
 */
export const taskUpdates = {
  start: (c: TaskMachineContext, e: TaskMachineEvent) => started(c, (e as EventOf<'start' | 'retry'>).at),
  progress: (c: TaskMachineContext, e: TaskMachineEvent) => {
    const event = e as EventOf<'progress'>;
    const streamed = 'chunk' in event;
    return {
      progress: event.fraction ?? c.progress,
      message: event.message ?? c.message,
      chunks: streamed ? c.chunks + 1 : c.chunks,
      chunk: streamed ? event.chunk : c.chunk,
    };
  },
  done: (_c: TaskMachineContext, e: TaskMachineEvent) => ({
    progress: 1,
    result: (e as EventOf<'done'>).output,
    error: undefined,
    completedAt: (e as EventOf<'done'>).at,
  }),
  retryAfterError: (c: TaskMachineContext, e: TaskMachineEvent) =>
    attemptFailed(c, (e as EventOf<'error'>).error, (e as EventOf<'error'>).at, true),
  failAfterError: (c: TaskMachineContext, e: TaskMachineEvent) =>
    attemptFailed(c, (e as EventOf<'error'>).error, (e as EventOf<'error'>).at, false),
  retryAfterTimeout: (c: TaskMachineContext) => attemptFailed(c, timeoutError(c), timedOutAt(c), true),
  failAfterTimeout: (c: TaskMachineContext) => attemptFailed(c, timeoutError(c), timedOutAt(c), false),
  cancel: (c: TaskMachineContext, e: TaskMachineEvent) => ({
    error: new TaskCancelledError(c.taskId, (e as EventOf<'cancel'>).reason),
    completedAt: (e as EventOf<'cancel'>).at,
    retryAt: undefined,
  }),
  lose: (_c: TaskMachineContext, e: TaskMachineEvent) => ({
    error: (e as EventOf<'lose'>).error,
    completedAt: (e as EventOf<'lose'>).at,
    retryAt: undefined,
  }),
} satisfies Record<string, (context: TaskMachineContext, event: TaskMachineEvent) => TaskContextPatch>;

/** The name of one of {@link taskUpdates}. */
export type TaskUpdateName = keyof typeof taskUpdates;

/** A delayed event a state schedules when entered and cancels when left. */
export interface TaskTimer {
  /** The timer's id, so leaving the state cancels exactly that one. */
  readonly id: string;
  /** The wait in ms, or `undefined` for no timer at all. */
  delay(context: TaskMachineContext): number | undefined;
  /** The event sent when it fires. */
  event(context: TaskMachineContext): TaskMachineEvent;
}

/** The chart's timers: `timeout` while `running`, `retry` while `retrying`. */
export const taskTimers = {
  /** Fails (or retries) the attempt `timeout` ms after it started; none without a timeout. */
  timeout: {
    id: 'task.timeout',
    delay: (c) => c.timeout,
    event: () => ({ type: 'timeout' }),
  },
  /** Starts the next attempt once the backoff after the last failure is over. */
  retry: {
    id: 'task.retry',
    delay: (c) => {
      const failedAt = c.attempts.at(-1)?.completedAt ?? c.createdAt;
      return Math.max(0, (c.retryAt ?? failedAt) - failedAt);
    },
    event: (c) => ({ type: 'retry', at: c.retryAt ?? c.attempts.at(-1)?.completedAt ?? c.createdAt }),
  },
} satisfies Record<string, TaskTimer>;

/** The name of one of {@link taskTimers}. */
export type TaskTimerName = keyof typeof taskTimers;

/**
 * The timer entering `status` with `context` arms, or `undefined`: the state has none, or its
 * delay is undefined (a task without a timeout). Leaving the state cancels exactly this timer.
 */
export function armedTimer(status: TaskStatus, context: TaskMachineContext): TaskTimer | undefined {
  const name = taskChart.states[status].after;
  if (name === undefined) return undefined;
  const timer = taskTimers[name];
  return timer.delay(context) === undefined ? undefined : timer;
}

// ------------------------------------------------------------------ the chart

/** One transition of the chart. The first whose guard passes is taken. */
interface TaskChartTransition {
  /** The state entered; absent for a transition that stays (no exit, no entry). */
  readonly target?: TaskStatus;
  readonly guard?: TaskGuardName;
  readonly update: TaskUpdateName;
}

/** One state of the chart: its effects while in it, and its transitions. */
export interface TaskChartState {
  /** A final state ignores every event. */
  readonly final?: boolean;
  /** The actor invoked while in this state: the work (`execute`), stopped (aborted) on leaving. */
  readonly invoke?: 'execute';
  /** The delayed event scheduled on entry and cancelled on exit. */
  readonly after?: TaskTimerName;
  readonly on: Partial<Record<TaskEventType, readonly TaskChartTransition[]>>;
}

const ends = {
  cancel: [{ target: 'cancelled', update: 'cancel' }],
  lose: [{ target: 'lost', update: 'lose' }],
} as const satisfies TaskChartState['on'];

/**
 * The task lifecycle as data: `pending → running → completed | failed | cancelled | lost`, with
 * `retrying` between attempts. This table is the one place the lifecycle is written:
 * {@link taskMachine} is built from it, and the runner steps tasks nobody observes through it with
 * {@link stepTask}; a property test holds the two equal.
 *
 * - `running` invokes the work; leaving it for any reason stops the work (aborting its signal).
 * - `running` schedules the `timeout` timer (none without a timeout); `retrying` schedules `retry`.
 * - A failed attempt with attempts left (and not a `NonRetryableError`; a timeout only with
 *   `retryOnTimeout`) goes to `retrying`, else to `failed`.
 * - `cancel` and `lose` end every active state; final states ignore every event.
 */
export const taskChart: { readonly initial: 'pending'; readonly states: Readonly<Record<TaskStatus, TaskChartState>> } = {
  initial: 'pending',
  states: {
    pending: {
      on: { start: [{ target: 'running', update: 'start' }], ...ends },
    },
    running: {
      invoke: 'execute',
      after: 'timeout',
      on: {
        progress: [{ guard: 'isValidProgress', update: 'progress' }],
        done: [{ target: 'completed', update: 'done' }],
        error: [
          { guard: 'canRetryError', target: 'retrying', update: 'retryAfterError' },
          { target: 'failed', update: 'failAfterError' },
        ],
        timeout: [
          { guard: 'canRetryTimeout', target: 'retrying', update: 'retryAfterTimeout' },
          { target: 'failed', update: 'failAfterTimeout' },
        ],
        ...ends,
      },
    },
    retrying: {
      after: 'retry',
      on: { retry: [{ target: 'running', update: 'start' }], ...ends },
    },
    completed: { final: true, on: {} },
    failed: { final: true, on: {} },
    cancelled: { final: true, on: {} },
    lost: { final: true, on: {} },
  },
};

/**
 * @internal
 * Steps a task through {@link taskChart} without an actor: the state and context `taskMachine`
 * reaches for the same event, or `undefined` when the event is ignored.
 *
 * Pure unless `inPlace`: then a transition to another state writes its changes into `context`
 * itself and returns it, for a task whose context nobody else holds (no snapshot handed out, no
 * actor); a property test holds both ways equal. A transition that stays (a progress report) always
 * returns a new context, since the runner tells what changed by comparing the two.
 */
export function stepTask(
  status: TaskStatus,
  context: TaskMachineContext,
  event: TaskMachineEvent,
  inPlace = false,
): [TaskStatus, TaskMachineContext] | undefined {
  const transitions = taskChart.states[status].on[event.type];
  if (transitions === undefined) return undefined;
  for (const transition of transitions) {
    if (transition.guard !== undefined && !taskGuards[transition.guard](context, event)) continue;
    const patch = taskUpdates[transition.update](context, event);
    const target = transition.target;
    if (inPlace && target !== undefined) return [target, Object.assign(context as Mutable<TaskMachineContext>, patch)];
    return [target ?? status, { ...context, ...patch }];
  }
  return undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * @internal
 * The type of the event that took a task from `from` to `to`, read from the new context: for a
 * task actor, whose snapshot does not carry the event that produced it.
 */
export function causeOf(from: TaskStatus, to: TaskStatus, context: TaskMachineContext): TaskEventType {
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

/** @internal One step of a task's history, as the runner's `'transition'` event reports it. */
export interface TaskStep {
  readonly from: TaskStatus | null;
  readonly to: TaskStatus;
  readonly event: string;
  readonly at: number;
  readonly attempt: number;
}

/**
 * @internal
 * A task's transitions so far, rebuilt from its context: its creation, each failed attempt's start
 * and failure (`context.attempts`), the current attempt's start and the final step, with the times
 * {@link enteredAt} gives and the events {@link causeOf} names. It equals what the `'transition'`
 * event reported for a task created by `submit` (a property test holds them equal), so a view that
 * keeps only recent transitions (the dashboard) rebuilds the older part of a task's log from here.
 */
export function historyOf(status: TaskStatus, context: TaskMachineContext, created: 'submit' | 'restore' = 'submit'): TaskStep[] {
  const steps: TaskStep[] = [{ from: null, to: 'pending', event: created, at: context.createdAt, attempt: 1 }];
  let state: TaskStatus = 'pending';
  const failed = context.attempts;
  for (let i = 0; i < failed.length; i += 1) {
    const attempt = failed[i]!;
    steps.push({
      from: state,
      to: 'running',
      event: state === 'pending' ? 'start' : 'retry',
      at: attempt.startedAt,
      attempt: attempt.attempt,
    });
    const to: TaskStatus = i === failed.length - 1 && status === 'failed' ? 'failed' : 'retrying';
    const error = attempt.error;
    const event = error instanceof TaskTimeoutError && error.taskId === context.taskId ? 'timeout' : 'error';
    steps.push({ from: 'running', to, event, at: attempt.completedAt, attempt: attempt.attempt });
    state = to;
  }
  if (state === status) return steps;
  if (context.attempt > failed.length && context.attemptStartedAt !== undefined) {
    // The current attempt started (and did not fail).
    steps.push({
      from: state,
      to: 'running',
      event: state === 'pending' ? 'start' : 'retry',
      at: context.attemptStartedAt,
      attempt: context.attempt,
    });
    state = 'running';
  }
  if (state !== status) {
    steps.push({
      from: state,
      to: status,
      event: causeOf(state, status, context),
      at: enteredAt(status, context),
      attempt: Math.max(1, context.attempt),
    });
  }
  return steps;
}
