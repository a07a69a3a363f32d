import type { InspectionEvent, Observer } from 'xstate';
import { describe } from '../errors.js';
import {
  checkFunction,
  checkKnownKeys,
  checkNonNegativeInteger,
  checkPositiveInteger,
  checkTimeout,
  invalid,
  MAX_DELAY_MS,
} from '../validate.js';
import type { Backoff } from '../machines/task-machine.js';
import type { RateLimit } from '../machines/rate-window.js';
import type { TaskStore } from '../store/task-store.js';
import type { Backend } from '../backends/backend.js';
import type { BackgroundTask } from './background-task.js';
import type { RunnerClock } from './clock.js';

export type { RunnerClock } from './clock.js';

/**
 * Options of `new BackgroundRunner(options)`: the TypeScript face of Python's `BackgroundConfig`.
 */
export interface BackgroundConfig {
  /**
   * How many tasks may run at once; the rest wait in `pending`, first in first out.
   * @defaultValue 5
   */
  maxConcurrentTasks?: number;
  /**
   * Timeout in ms for tasks submitted without their own `timeout`; `undefined` means none.
   * @defaultValue undefined
   */
  defaultTimeout?: number | undefined;
  /**
   * Remove finished tasks from the runner `cleanupDelay` ms after they finish, so a long-lived
   * runner holds only the tasks still worth showing. Handles you hold keep working.
   * @defaultValue true
   */
  autoCleanup?: boolean;
  /**
   * How long a finished task stays visible in `tasks`, `getTask()` and the registry, in ms. `0`
   * removes it as soon as the supervisor hears it finished (within a microtask), without a timer.
   * @defaultValue 300_000 (5 minutes)
   */
  cleanupDelay?: number;
  /**
   * With `autoCleanup`, the most finished tasks the runner holds while their `cleanupDelay` runs;
   * when one more finishes, the oldest finished task is removed at once (like BullMQ's
   * `removeOnComplete: { count }`). This bounds a busy runner's memory at the default 5-minute
   * delay (a million tasks stay under 400 MB). Handles you hold keep working; `Infinity` keeps
   * every finished task for the whole delay.
   * @defaultValue 10_000
   */
  maxFinishedTasks?: number | undefined;
  /**
   * An XState inspection observer (e.g. `createBrowserInspector().inspect` from
   * `@statelyai/inspect`, or any `(event) => void`). It sees the supervisor and every task actor;
   * with it set, every task gets its actor with its first event (admitted, or cancelled while
   * queued), restored in `pending`: a queued task stays a compact record until then.
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /**
   * At most `max` task starts in any `interval` ms, across the runner (e.g. `{ max: 60, interval:
   * 60_000 }` for an API allowing 60 requests a minute). Tasks wait in `pending` until the window
   * allows them. Retries of a started task do not count again. @defaultValue no limit
   */
  rateLimit?: RateLimit | undefined;
  /**
   * The same kind of limit, applied to each task `group` on its own (e.g. one window per LLM
   * provider). Tasks without a group are not subject to it. A group at its limit does not hold
   * back other groups. @defaultValue no limit
   */
  groupRateLimit?: RateLimit | undefined;
  /**
   * The most tasks that may wait in `pending`; `submit()` beyond it rejects with `QueueFullError`
   * (backpressure). @defaultValue Infinity
   */
  maxQueueSize?: number | undefined;
  /**
   * The clock for timeouts, waits and cleanup. Tests may pass xstate's `SimulatedClock`; vitest's
   * fake timers work with the default.
   * @defaultValue the global `setTimeout`/`clearTimeout` and `Date.now`
   */
  clock?: RunnerClock | undefined;
  /**
   * Where to keep every task so a crash loses nothing: `sqliteStore({ path })` from
   * `tasklane/sqlite`, or your own {@link TaskStore}. The runner takes the store's lock at once
   * (a second live runner on the same store throws `StoreLockedError`), writes every transition
   * in one transaction per event-loop turn, and releases the store on `stop()`. Call
   * `await runner.recover()` after your `define()` calls to pick up what a dead process left.
   * @defaultValue undefined (in memory only)
   */
  store?: TaskStore | undefined;
  /**
   * What `recover()` does with named tasks a dead process left `pending`, `running` or
   * `retrying`: `'requeue'` runs them again (at least once: a task that was running may run a
   * second time), `'mark-lost'` ends them `lost`. Function tasks always end `lost`.
   * @defaultValue 'requeue'
   */
  resume?: 'requeue' | 'mark-lost' | undefined;
  /**
   * Receives each task whose outcome a dead process could not deliver: tasks `recover()` finds
   * finished but undelivered or ends `lost`, and re-queued tasks when they finish (their
   * `onComplete` died with the process). The `'recovered'` event gets the same tasks.
   */
  onRecovered?: ((task: BackgroundTask) => void) | undefined;
  /**
   * Where tasks run when not in this process: `bullmqBackend({ connection })` from
   * `tasklane/bullmq` runs them on BullMQ workers in any process. With a backend, tasks are
   * submitted by name (`define()` a handler in the worker processes); `maxConcurrentTasks` is how
   * many this process runs at once and `rateLimit` holds across every process.
   * @defaultValue undefined (tasks run in this process)
   */
  backend?: Backend | undefined;
}

/** The options in force, defaults applied, as `runner.config` shows them. */
export interface RunnerConfig {
  readonly maxConcurrentTasks: number;
  readonly rateLimit: RateLimit | undefined;
  readonly groupRateLimit: RateLimit | undefined;
  readonly maxQueueSize: number;
  readonly maxFinishedTasks: number;
  readonly defaultTimeout: number | undefined;
  readonly autoCleanup: boolean;
  readonly cleanupDelay: number;
  readonly resume: 'requeue' | 'mark-lost';
}

const runnerKeys = [
  'maxConcurrentTasks',
  'defaultTimeout',
  'autoCleanup',
  'cleanupDelay',
  'inspect',
  'rateLimit',
  'groupRateLimit',
  'maxFinishedTasks',
  'maxQueueSize',
  'clock',
  'store',
  'resume',
  'onRecovered',
  'backend',
] as const satisfies readonly (keyof BackgroundConfig)[];

/**
 * @internal
 * Every key of {@link BackgroundConfig}: anything else in `new BackgroundRunner(options)` is a
 * `TypeError` (a misspelt option would otherwise be ignored without a word).
 */
const RUNNER_OPTION_KEYS: ReadonlySet<string> = new Set(runnerKeys);

/** @internal Options after defaults and validation. */
export interface ResolvedConfig {
  maxConcurrentTasks: number;
  rateLimit: RateLimit | undefined;
  groupRateLimit: RateLimit | undefined;
  maxQueueSize: number;
  defaultTimeout: number | undefined;
  autoCleanup: boolean;
  cleanupDelay: number;
  maxFinishedTasks: number;
  inspect: BackgroundConfig['inspect'];
  clock: Required<RunnerClock>;
  store: TaskStore | undefined;
  resume: 'requeue' | 'mark-lost';
  onRecovered: ((task: BackgroundTask) => void) | undefined;
  backend: Backend | undefined;
}

/**
 * The result of a task whose work returns `T` (awaited): `T` itself, except for work that streams:
 * an async generator's return value (the array of its items when it returns nothing), or the
 * array of an `AsyncIterable`'s items.
 */
export type TaskResult<T> =
  T extends AsyncGenerator<infer TItem, infer TReturn, any> // eslint-disable-line @typescript-eslint/no-explicit-any
    ? [TReturn] extends [void | undefined]
      ? TItem[]
      : undefined extends TReturn
        ? Exclude<TReturn, undefined | void> | TItem[]
        : TReturn
    : T extends AsyncIterable<infer TItem>
      ? TItem[]
      : T;

/** The item type of work that streams (`unknown` for other work). */
export type StreamItem<T> = T extends AsyncIterable<infer TItem> ? TItem : unknown;

/**
 * Options of `runner.submit(fn, options)`.
 *
 * @typeParam TResult - what the work resolves to.
 */
export interface SubmitOptions<TResult = unknown, TChunk = unknown> {
  /**
   * Arguments for the work: it is called as `fn(...args, context)`. For a task submitted by name
   * they must be JSON data (checked at submit time), since a store keeps them as JSON.
   * @defaultValue []
   */
  args?: readonly unknown[];
  /** A readable name for lists and events. @defaultValue the function's name, else `'task'` */
  name?: string;
  /** Fail the task with `TaskTimeoutError` after this many ms of running. @defaultValue the runner's `defaultTimeout` */
  timeout?: number | undefined;
  /** Called exactly once when the task reaches a final state (completed, failed or cancelled). */
  onComplete?: (task: BackgroundTask<TResult>) => void;
  /**
   * Called when the running work changes the task's progress or message
   * (`context.reportProgress(fraction, message)`). Streamed items go to `onChunk`.
   */
  onProgress?: (progress: number, message: string | undefined, task: BackgroundTask<TResult>) => void;
  /**
   * Called with each item of work that streams (returns an `AsyncIterable`), in order, as it
   * arrives; `task.chunks` counts them. The runner's `progress` event carries the same item as `chunk`.
   */
  onChunk?: (chunk: TChunk, task: BackgroundTask<TResult>) => void;
  /**
   * For work that streams: turns the items into the task's result, e.g. `(items) => items.join('')`.
   * May be async; a throw fails the attempt.
   * @defaultValue the value the generator returns if it is not `undefined`, else the array of items
   */
  collect?: ((items: TChunk[]) => unknown) | undefined;
  /** Anything you want to find again on the task and in its JSON record. @defaultValue {} */
  metadata?: Record<string, unknown>;
  /** Higher runs first; equal priorities run in submission order. Any finite number. @defaultValue 0 */
  priority?: number;
  /** A rate-limit group, e.g. the LLM provider the task calls; see `groupRateLimit`. */
  group?: string | undefined;
  /** How many times to run the work again after a failed attempt. @defaultValue 0 */
  retries?: number;
  /**
   * The wait between attempts: a number of ms (fixed), or a {@link Backoff}.
   * @defaultValue 0 (retry at once)
   */
  backoff?: number | Backoff;
  /** Whether an attempt that timed out is retried (when retries are left). @defaultValue true */
  retryOnTimeout?: boolean;
}

const submitKeys = [
  'args',
  'name',
  'timeout',
  'onComplete',
  'onProgress',
  'onChunk',
  'collect',
  'metadata',
  'priority',
  'group',
  'retries',
  'backoff',
  'retryOnTimeout',
] as const satisfies readonly (keyof SubmitOptions)[];

/** @internal Every key of {@link SubmitOptions}; anything else in `submit(fn, options)` is a `TypeError`. */
export const SUBMIT_OPTION_KEYS: ReadonlySet<string> = new Set(submitKeys);

// These fail to compile when an option is added to an interface and not to its key list above.
type Unlisted<T, K> = [Exclude<keyof T, K>] extends [never] ? true : Exclude<keyof T, K>;
true satisfies Unlisted<BackgroundConfig, (typeof runnerKeys)[number]>;
true satisfies Unlisted<SubmitOptions, (typeof submitKeys)[number]>;

/** @internal */
function checkRateLimit(name: string, value: unknown): RateLimit | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') invalid(name, 'an object like { max: 60, interval: 60_000 }', value);
  const { max, interval } = value as Record<string, unknown>;
  checkPositiveInteger(`${name}.max`, max);
  if (interval === undefined)
    invalid(
      `${name}.interval`,
      `a number of milliseconds (the window \`max\` starts are counted in), e.g. { max: ${typeof max === 'number' ? max : 60}, interval: 60_000 }`,
      interval,
    );
  checkTimeout(`${name}.interval`, interval);
  return { max: max as number, interval: interval as number };
}

/** @internal Normalises the `backoff` option. */
export function checkBackoff(value: unknown): Backoff | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    if (!(value >= 0 && value <= MAX_DELAY_MS)) {
      throw new RangeError(`Expected \`backoff\` to be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${describe(value)}`);
    }
    return { type: 'fixed', delay: value };
  }
  if (value === null || typeof value !== 'object') invalid('backoff', "a number of ms or { type: 'fixed' | 'exponential', delay }", value);
  const { type, delay, maxDelay, jitter } = value as Record<string, unknown>;
  if (type !== 'fixed' && type !== 'exponential') invalid('backoff.type', "'fixed' or 'exponential'", type);
  if (typeof delay !== 'number' || !(delay >= 0 && delay <= MAX_DELAY_MS)) {
    throw new RangeError(`Expected \`backoff.delay\` to be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${describe(delay)}`);
  }
  if (maxDelay !== undefined && (typeof maxDelay !== 'number' || !(maxDelay >= 0))) {
    throw new RangeError(`Expected \`backoff.maxDelay\` to be a non-negative number of milliseconds, got ${describe(maxDelay)}`);
  }
  if (jitter !== undefined && (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))) {
    throw new RangeError(`Expected \`backoff.jitter\` to be a number from 0 to 1, got ${describe(jitter)}`);
  }
  return { type, delay, maxDelay: maxDelay as number | undefined, jitter: (jitter as number | undefined) ?? 0 };
}

/**
 * The real clock, one object for every runner: its functions read the globals at call time, so
 * vitest's fake timers, installed later, still apply. (One shared object also keeps the runner's
 * hot paths monomorphic when an app creates many runners.)
 */
const realClock: Required<RunnerClock> = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

/** The default of `maxFinishedTasks`. */
const DEFAULT_MAX_FINISHED_TASKS = 10_000;

/** @internal Applies defaults and validates; throws `TypeError`/`RangeError` naming the option. */
export function resolveConfig(options: BackgroundConfig = {}): ResolvedConfig {
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  checkKnownKeys('new BackgroundRunner(options)', options, RUNNER_OPTION_KEYS);
  const {
    maxConcurrentTasks = 5,
    autoCleanup = true,
    cleanupDelay = 300_000,
    inspect,
    clock,
    maxQueueSize = Number.POSITIVE_INFINITY,
  } = options;
  checkPositiveInteger('maxConcurrentTasks', maxConcurrentTasks);
  if (maxQueueSize !== Number.POSITIVE_INFINITY) checkPositiveInteger('maxQueueSize', maxQueueSize);
  if (typeof autoCleanup !== 'boolean') invalid('autoCleanup', 'a boolean', autoCleanup);
  if (typeof cleanupDelay !== 'number' || Number.isNaN(cleanupDelay)) invalid('cleanupDelay', 'a number of milliseconds', cleanupDelay);
  if (!(cleanupDelay >= 0 && cleanupDelay <= MAX_DELAY_MS)) {
    throw new RangeError(
      `Expected \`cleanupDelay\` to be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${describe(cleanupDelay)}`,
    );
  }
  const { maxFinishedTasks = DEFAULT_MAX_FINISHED_TASKS } = options;
  if (maxFinishedTasks !== Number.POSITIVE_INFINITY) checkNonNegativeInteger('maxFinishedTasks', maxFinishedTasks);
  if (inspect !== undefined && typeof inspect !== 'function' && (typeof inspect !== 'object' || inspect === null)) {
    invalid('inspect', 'an inspection observer or function', inspect);
  }
  if (clock !== undefined && (typeof clock?.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')) {
    invalid('clock', 'an object with setTimeout and clearTimeout', clock);
  }
  const { store, resume = 'requeue', onRecovered } = options;
  if (store !== undefined) {
    const methods = ['acquire', 'write', 'poll', 'recoverable', 'get', 'release'] as const;
    if (store === null || typeof store !== 'object' || methods.some((m) => typeof store[m] !== 'function')) {
      invalid('store', `a TaskStore (an object with ${methods.join(', ')}), e.g. sqliteStore({ path }) from 'tasklane/sqlite'`, store);
    }
  }
  if (resume !== 'requeue' && resume !== 'mark-lost') invalid('resume', "'requeue' or 'mark-lost'", resume);
  checkFunction('onRecovered', onRecovered);
  const { backend } = options;
  if (backend !== undefined && (backend === null || typeof backend !== 'object' || typeof backend.connect !== 'function')) {
    invalid('backend', "a Backend, e.g. bullmqBackend({ connection }) from 'tasklane/bullmq'", backend);
  }
  if (backend !== undefined && store !== undefined)
    invalid('store', 'undefined when a `backend` is given (the backend keeps the tasks)', store);
  const resolvedClock: Required<RunnerClock> = clock
    ? {
        setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
        clearTimeout: (id) => clock.clearTimeout(id),
        now: typeof clock.now === 'function' ? () => clock.now!() : () => Date.now(),
      }
    : realClock;
  return {
    maxConcurrentTasks,
    rateLimit: checkRateLimit('rateLimit', options.rateLimit),
    groupRateLimit: checkRateLimit('groupRateLimit', options.groupRateLimit),
    maxQueueSize,
    defaultTimeout: checkTimeout('defaultTimeout', options.defaultTimeout),
    autoCleanup,
    cleanupDelay,
    maxFinishedTasks,
    inspect,
    clock: resolvedClock,
    store,
    resume,
    onRecovered,
    backend,
  };
}
