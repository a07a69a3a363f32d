import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import { createActor } from 'xstate';
import { agentWork } from '../actors/run-agent.js';
import { Execution, runFunctionLogic } from '../actors/run-function.js';
import type { Collect } from '../actors/run-function.js';
import {
  QueueFullError,
  RunnerStoppedError,
  TaskCancelledError,
  TaskLostError,
  UnknownHandlerError,
  WaitTimeoutError,
} from '../errors.js';
import { supervisorMachine, syncInPlace } from '../machines/supervisor-machine.js';
import type { QueuedTask, SupervisorActor, SupervisorOutbox } from '../machines/supervisor-machine.js';
import { initialTaskContext, taskMachine, transitionTask } from '../machines/task-machine.js';
import type { TaskActor, TaskMachineContext, TaskMachineEvent, TaskMachineInput } from '../machines/task-machine.js';
import { isFinalStatus, VALIDATE_ARGS } from '../types.js';
import type { StoredTask } from '../store/task-store.js';
import type { TaskFunction, TaskId, TaskStatus } from '../types.js';
import { BackgroundTask } from './background-task.js';
import type { TaskHost, TaskRecord } from './background-task.js';
import { checkBackoff, resolveConfig } from './options.js';
import { checkFunction, checkNonNegativeInteger, checkPositiveInteger, checkTimeout, invalid } from '../validate.js';
import type { BackgroundConfig, ResolvedConfig, StreamItem, SubmitOptions, TaskResult } from './options.js';
import type { RunnerEventName, RunnerEvents } from './events.js';
import { checkJsonArgs } from './json-args.js';
import { createTaskRegistry } from './registry.js';
import { fromStoredError, StoreSync } from './store-sync.js';
import type { SubmitInfo } from './store-sync.js';
import type { TaskRegistry } from './registry.js';
import { RemoteWork } from '../backends/backend.js';
import type { BackendSession } from '../backends/backend.js';

/** What `runner.recover()` resolves with. */
export interface RecoverResult {
  /** Named tasks a dead process left active, queued again here with their ids and attempt counts. */
  requeued: BackgroundTask[];
  /** Tasks ended `lost` (function tasks; every active task with `resume: 'mark-lost'`). */
  lost: BackgroundTask[];
  /** Tasks found finished whose outcome had not been delivered (including ones cancelled through the store). */
  finished: BackgroundTask[];
  /**
   * Ids of named tasks left in the store untouched because no handler of their name is defined
   * yet: `define()` it and call `recover()` again (or let the next process do it).
   */
  waiting: TaskId[];
}

/** Options of `runner.submitAgent(agent, prompt, options)`. */
export type SubmitAgentOptions<TResult = unknown> = Omit<SubmitOptions<TResult>, 'args'>;

/** The facts of one microtask, sent to the supervisor as its `sync` event (`at` is set at the flush). */
interface Batch {
  readonly type: 'sync';
  readonly submitted: QueuedTask[];
  readonly withdrawn: TaskId[];
  readonly settled: TaskId[];
  at: number;
}

/** The task machine with its effects: one for every runner. */
const taskLogic = taskMachine.provide({ actors: { execute: runFunctionLogic } });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/**
 * Runs work in the background with a concurrency limit, timeouts, cancellation, progress and a
 * live view of every task. Each task is an XState actor of {@link taskMachine}; a supervisor actor
 * owns the queue and admits tasks in FIFO order while fewer than `maxConcurrentTasks` run.
 *
 * @example
 * ```ts
 * const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });
 * const task = await runner.submit(async (topic: string) => `notes on ${topic}`, { args: ['AI'], timeout: 60_000 });
 * console.log(await task.wait()); // "notes on AI"
 * ```
 */
export class BackgroundRunner {
  readonly #config: ResolvedConfig;
  readonly #emitter = new EventEmitter();
  readonly #wrapped = new WeakMap<Listener, Listener>();
  readonly #tasks = new Map<TaskId, BackgroundTask>();
  readonly #running = new Set<BackgroundTask>();
  readonly #supervisor: SupervisorActor;
  readonly #host: TaskHost;
  #registry: TaskRegistry | undefined;
  readonly #handlers = new Map<string, TaskFunction>();
  /** Present only with a `backend`: its tasks run elsewhere and are mirrored here. */
  readonly #backend: BackendSession | undefined;
  /** Present only with a `store`: every store-related cost sits behind `#sync !== undefined`. */
  readonly #sync: StoreSync | undefined;
  #idleWaiters: (() => void)[] = [];
  #stopped = false;
  /** `stop({ drain: true })` has begun: no more submits. */
  #closing = false;
  /** Tasks not yet final: the runner is idle when this is 0. */
  #active = 0;
  /** Tasks in `pending`, for `maxQueueSize`. */
  #pending = 0;
  /** What the supervisor has not been told yet; sent as one `sync` event per microtask. */
  #batch: Batch | undefined;
  /** A batch the in-place path is done with, emptied, for the next microtask (no garbage per task). */
  #spareBatch: Batch | undefined;
  /**
   * Whether anything can observe the supervisor actor: an inspector, or a caller that read
   * `runner.supervisor`. Until then `sync` events take the in-place path (see `syncInPlace`).
   */
  #supervisorObserved: boolean;
  /** The supervisor's `admit` and `remove` effects, for the in-place path. */
  readonly #outbox: SupervisorOutbox = {
    admit: (taskIds) => {
      for (const taskId of taskIds) this.#admit(taskId);
    },
    remove: (taskIds) => {
      for (const taskId of taskIds) this.#remove(taskId);
    },
  };

  /**
   * @param options - see {@link BackgroundConfig}; every field is optional.
   * @throws TypeError or RangeError naming the option, for a bad value.
   */
  constructor(options: BackgroundConfig = {}) {
    this.#config = resolveConfig(options);
    const { clock } = this.#config;
    if (this.#config.store) {
      this.#sync = new StoreSync({
        store: this.#config.store,
        owner: { id: randomUUID(), pid: process.pid, host: hostname() },
        now: clock.now,
        onCancelRequested: (ids) => {
          const reason = 'cancel requested through the store';
          for (const id of ids) {
            const task = this.#tasks.get(id);
            if (task) this.#cancel(task, reason);
            else this.#sync!.cancelUnheld(id, new TaskCancelledError(id, reason));
          }
        },
        onError: (error) => this.#report(error, 'store', undefined),
      });
    }
    // tasklane's own timers never hold the process open: the work's own I/O does, and a finished
    // task's cleanup timer must not keep a script alive for `cleanupDelay`.
    const systemClock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => unref(clock.setTimeout(fn, ms)),
      clearTimeout: (id: unknown) => clock.clearTimeout(id),
    };
    this.#supervisor = createActor(supervisorMachine, {
      id: 'supervisor',
      input: {
        maxConcurrentTasks: this.#config.maxConcurrentTasks,
        autoCleanup: this.#config.autoCleanup,
        cleanupDelay: this.#config.cleanupDelay,
        rateLimit: this.#config.rateLimit,
        groupRateLimit: this.#config.groupRateLimit,
        now: clock.now(),
      },
      clock: systemClock,
      inspect: this.#config.inspect,
    });
    this.#supervisorObserved = this.#config.inspect !== undefined;
    this.#supervisor.on('admit', ({ taskIds }) => this.#outbox.admit(taskIds));
    this.#supervisor.on('remove', ({ taskIds }) => this.#outbox.remove(taskIds));
    this.#supervisor.on('drainTimedOut', () => {
      for (const task of [...this.#tasks.values()]) if (!task.isCompleted) this.#cancel(task, 'the drain timeout passed');
    });
    this.#supervisor.start();
    this.#host = {
      clock,
      materialize: (task) => this.#materialize(task),
      cancel: (task, reason) => (this.#backend && !this.#closing ? this.cancelTask(task.id, reason) : this.#cancel(task, reason)),
    };
    this.#backend = this.#config.backend?.connect({
      dispatch: (taskId, event) => {
        const task = this.#tasks.get(taskId);
        if (task) this.#dispatch(task, event);
      },
      peek: (taskId) => {
        const task = this.#tasks.get(taskId);
        if (!task) return undefined;
        return { status: task._status, failedAttempts: task._context.attempts.length };
      },
      activeIds: () => [...this.#tasks.values()].filter((task) => !task.isCompleted).map((task) => task.id),
      handler: (name) => this.#handlers.get(name),
      now: () => clock.now(),
      concurrency: this.#config.maxConcurrentTasks,
      rateLimit: this.#config.rateLimit,
      report: (error) => this.#report(error, 'backend', undefined),
    });
  }

  /** The options in force, defaults applied. */
  get config(): Readonly<Omit<ResolvedConfig, 'clock' | 'inspect' | 'store' | 'onRecovered' | 'backend'>> {
    const { defaultTimeout, autoCleanup, cleanupDelay, rateLimit, groupRateLimit, maxQueueSize, resume } = this.#config;
    const { maxConcurrentTasks } = this.#supervisor.getSnapshot().context;
    return { maxConcurrentTasks, defaultTimeout, autoCleanup, cleanupDelay, rateLimit, groupRateLimit, maxQueueSize, resume };
  }

  /**
   * The supervisor actor that owns the queue (for inspection and tests). Until this is first read
   * (and without `inspect`), the runner applies the supervisor's per-task `sync` events in place,
   * without an xstate step; from the first read on, every event goes through the actor, so its
   * subscribers see each snapshot.
   */
  get supervisor(): SupervisorActor {
    // From now on every event goes through the actor, so its subscribers see every snapshot.
    this.#supervisorObserved = true;
    return this.#supervisor;
  }

  /**
   * Submits work. It starts at once if a slot is free, else waits in `pending` (FIFO). `fn` is
   * called as `fn(...args, context)`; see {@link TaskContext}.
   *
   * Work that returns (or resolves to) an `AsyncIterable` (an async generator, a `ReadableStream`)
   * streams: each item reaches `onChunk` and the `progress` event as `chunk`, and the result is
   * `collect(items)`, else what the generator returns, else the array of items. Cancel and timeout
   * abort the signal and end the iteration with `return()`, so the generator's `finally` runs.
   *
   * @returns the task's handle, right after it was queued or started.
   * @throws TypeError/RangeError for a bad `fn` or option; `RunnerStoppedError` after `stop()`.
   *
   * @example
   * ```ts
   * const task = await runner.submit(research, { args: ['AI trends'], name: 'research', timeout: 60_000 });
   * ```
   */
  async submit<TItem, TCollected>(
    fn: (...args: any[]) => AsyncIterable<TItem> | PromiseLike<AsyncIterable<TItem>>, // eslint-disable-line @typescript-eslint/no-explicit-any
    options: SubmitOptions<Awaited<TCollected>, TItem> & { collect: (items: TItem[]) => TCollected },
  ): Promise<BackgroundTask<Awaited<TCollected>>>;
  async submit<TResult>(
    fn: (...args: any[]) => TResult | PromiseLike<TResult>, // eslint-disable-line @typescript-eslint/no-explicit-any
    options?: SubmitOptions<TaskResult<Awaited<TResult>>, StreamItem<Awaited<TResult>>>,
  ): Promise<BackgroundTask<TaskResult<Awaited<TResult>>>>;
  /**
   * Submits a task by the name of a handler registered with {@link BackgroundRunner.define}. Its
   * `args` must be JSON data: they are what a store keeps, so that a restarted process can run the
   * task again.
   *
   * @throws UnknownHandlerError when no handler has that name; TypeError naming the argument
   *   (`args[1].when`) when an argument is not JSON data (a function, a cycle, a BigInt, a Date…).
   *
   * @example
   * ```ts
   * runner.define('research', async (topic: string, ctx: TaskContext) => lookUp(topic, ctx.signal));
   * const task = await runner.submit<string>('research', { args: ['AI'] });
   * ```
   */
  async submit<TResult = unknown>(name: string, options?: SubmitOptions<TResult>): Promise<BackgroundTask<TResult>>;
  async submit(fn: unknown, options: SubmitOptions = {}): Promise<BackgroundTask> {
    if (this.#backend) return this.#submitRemote(this.#backend, fn, options);
    return this.#submit(fn, options);
  }

  /**
   * Registers `handler` under `name`, for `submit(name, { args })`. Named tasks can be re-queued
   * after a crash (see the `store` option and {@link BackgroundRunner.recover}); the handler is
   * called like a submitted function, as `handler(...args, context)`.
   *
   * @returns the runner, so definitions chain.
   * @throws TypeError for an empty name, a non-function handler, or a name already defined.
   *
   * @example
   * ```ts
   * runner
   *   .define('research', async (topic: string, ctx: TaskContext) => research(topic, ctx.signal))
   *   .define('summarise', async (text: string) => summarise(text));
   * ```
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  define(name: string, handler: (...args: any[]) => unknown): this {
    if (typeof name !== 'string' || name === '') invalid('name', 'a non-empty string', name);
    if (typeof handler !== 'function') invalid('handler', 'a function', handler);
    if (this.#handlers.has(name)) {
      throw new TypeError(`A handler named ${JSON.stringify(name)} is already defined; each name can be defined once per runner`);
    }
    // The backend may refuse the name; its worker calls the handler only once connected, after the set below.
    this.#backend?.define(name);
    this.#handlers.set(name, handler as TaskFunction);
    return this;
  }

  /** The names registered with `define()`, in definition order. */
  get handlers(): string[] {
    return [...this.#handlers.keys()];
  }

  /**
   * Submits an AI agent call: runs `agent.start(prompt, { signal })`, else `agent.chat(…)`, else
   * `agent.run(…)`. The task's result is what that method returns or resolves to.
   *
   * @throws TypeError when the agent has none of those methods or `prompt` is not a string.
   */
  async submitAgent<TResult = unknown>(
    agent: object,
    prompt: string,
    options: SubmitAgentOptions<TResult> = {},
  ): Promise<BackgroundTask<TResult>> {
    if (this.#backend) throw remoteNeedsName('submitAgent(agent, prompt)');
    if (typeof prompt !== 'string') invalid('prompt', 'a string', prompt);
    const { method, work } = agentWork(agent);
    const agentName = (agent as { name?: unknown }).name;
    const name = options.name ?? (typeof agentName === 'string' && agentName ? `${agentName}.${method}` : `agent.${method}`);
    return this.#submit<TResult>(work, { ...options, name, args: [prompt] });
  }

  /**
   * Reconciles the store with what a dead process left behind. Call it once your handlers are
   * defined (it never runs by itself, so no re-queued task can start before its handler exists):
   *
   * - named tasks left `pending`, `running` or `retrying` are queued again with their id, args,
   *   priority and attempt count (at-least-once: one that was running runs again), unless
   *   `resume: 'mark-lost'`; a crash does not use up a retry;
   * - function tasks left active end `lost` with a `TaskLostError` (their code was never stored);
   * - tasks whose cancel was requested through the store while no runner held it end `cancelled`;
   * - finished tasks whose outcome was never delivered, the lost ones, and later the re-queued ones
   *   when they finish, go to `onRecovered` and the `'recovered'` event (they are recorded as
   *   delivered only when one of those received them);
   * - named tasks whose handler is not defined are left untouched in the store and listed in
   *   `waiting`: define the handler and call `recover()` again.
   *
   * Calling it again is safe: tasks it already took over are skipped.
   *
   * @returns what it did, with the task handles.
   * @throws TypeError without a `store`; `RunnerStoppedError` after `stop()`.
   *
   * @example
   * ```ts
   * const runner = new BackgroundRunner({ store: sqliteStore({ path: 'tasks.db' }), onRecovered: report });
   * runner.define('research', research);
   * const { requeued, lost } = await runner.recover();
   * ```
   */
  async recover(): Promise<RecoverResult> {
    const sync = this.#sync;
    if (sync === undefined) invalid('store', "a TaskStore for recover(); pass { store: sqliteStore({ path }) } from 'tasklane/sqlite'", undefined);
    if (this.#closing) throw new RunnerStoppedError('recover tasks');
    const result: RecoverResult = { requeued: [], lost: [], finished: [], waiting: [] };
    const now = this.#config.clock.now();
    for (const row of sync.store.recoverable(sync.owner)) {
      if (this.#tasks.has(row.id)) continue;
      const info: SubmitInfo = { handler: row.handler, args: row.args, priority: row.priority, group: row.group };
      if (isFinalStatus(row.status)) {
        result.finished.push(this.#restoreFinished(row, row.status, restoredContext(row, null, false), info));
        continue;
      }
      if (row.cancelRequested) {
        const reason = 'cancel requested through the store while no runner held it';
        const cancelled = updatesAfter(row, { type: 'cancel', at: now, reason });
        result.finished.push(this.#restoreFinished(row, 'cancelled', cancelled, info));
        continue;
      }
      const handler = row.handler === null ? undefined : this.#handlers.get(row.handler);
      if (row.handler !== null && this.#config.resume === 'requeue') {
        if (handler === undefined) {
          result.waiting.push(row.id);
          continue;
        }
        const execution = new Execution(row.id, handler as (...a: unknown[]) => unknown, row.args ?? [], this.#config.clock.now);
        const task = new BackgroundTask(this.#host, restoredContext(row, execution, true), (t) => this.#deliver(t), undefined);
        sync.track(task, info);
        this.#enqueue(task, row.priority, row.group ?? undefined);
        result.requeued.push(task);
        continue;
      }
      const error = new TaskLostError(row.id, row.status, row.handler === null ? 'function' : 'mark-lost');
      result.lost.push(this.#restoreFinished(row, 'lost', updatesAfter(row, { type: 'lose', at: now, error }), info));
    }
    return result;
  }

  /** Every task the runner still holds (finished ones until cleanup), in submission order. */
  get tasks(): BackgroundTask[] {
    return [...this.#tasks.values()];
  }

  /** The tasks running now. */
  get runningTasks(): BackgroundTask[] {
    return [...this.#running];
  }

  /** The tasks waiting for a slot, in submission order. */
  get pendingTasks(): BackgroundTask[] {
    return this.tasks.filter((task) => task.status === 'pending');
  }

  /** Whether nothing is pending or running. */
  get isIdle(): boolean {
    return this.#active === 0;
  }

  /** The task with this id, or `undefined` (unknown, or already cleaned up). */
  getTask(id: TaskId): BackgroundTask | undefined {
    return this.#tasks.get(id);
  }

  /** Plain JSON records of the tasks, optionally only those in `status`. */
  listTasks(options: { status?: TaskStatus | readonly TaskStatus[] } = {}): TaskRecord[] {
    const { status } = options;
    const wanted = status === undefined ? undefined : new Set<TaskStatus>(typeof status === 'string' ? [status] : status);
    const records: TaskRecord[] = [];
    for (const task of this.#tasks.values()) if (!wanted || wanted.has(task.status)) records.push(task.toJSON());
    return records;
  }

  /**
   * Cancels a pending or running task. Resolves `true` if it was cancelled by this call, `false`
   * if it is unknown or had already finished.
   */
  async cancelTask(id: TaskId, reason?: string): Promise<boolean> {
    const task = this.#tasks.get(id);
    // A remote task ends when the backend says so (a waiting job removed, a running one aborted where it runs).
    if (this.#backend && !this.#closing) return task?.isCompleted ? false : this.#backend.cancel(id, reason);
    return task ? this.#cancel(task, reason) : false;
  }

  /**
   * Cancels every pending task, then every running or retrying one (so no pending task starts in
   * between).
   * Resolves with how many were cancelled.
   */
  async cancelAll(reason?: string): Promise<number> {
    const backend = this.#backend;
    if (backend && !this.#closing) {
      const pending = [...this.#tasks.values()].filter((task) => !task.isCompleted);
      const results = await Promise.all(pending.map((task) => backend.cancel(task.id, reason)));
      return results.filter(Boolean).length;
    }
    return this.#cancelEverything(reason);
  }

  /**
   * Waits until nothing is pending or running, then resolves with all tasks the runner holds.
   * Failed and cancelled tasks do not reject it; inspect their `status`.
   *
   * @throws WaitTimeoutError when `timeout` ms pass first (the tasks keep running).
   */
  async waitAll(options: { timeout?: number | undefined } = {}): Promise<BackgroundTask[]> {
    const timeout = checkTimeout('timeout', options.timeout);
    if (!this.isIdle) {
      await new Promise<void>((resolve, reject) => {
        const waiter = (): void => {
          if (timer !== undefined) this.#config.clock.clearTimeout(timer);
          resolve();
        };
        const timer =
          timeout === undefined
            ? undefined
            : this.#config.clock.setTimeout(() => {
                this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter);
                reject(new WaitTimeoutError(undefined, timeout));
              }, timeout);
        this.#idleWaiters.push(waiter);
      });
    }
    return this.tasks;
  }

  /** Resolves when the runner is idle or `timeout` ms have passed, whichever comes first. */
  async #idleWithin(timeout: number | undefined): Promise<void> {
    if (timeout === undefined) return this.onIdle();
    let timer: unknown;
    const elapsed = new Promise<void>((resolve) => (timer = unref(this.#config.clock.setTimeout(() => resolve(), timeout))));
    await Promise.race([this.onIdle(), elapsed]);
    this.#config.clock.clearTimeout(timer);
  }

  /** Resolves when nothing is pending or running (at once if that is so now). */
  async onIdle(): Promise<void> {
    if (this.isIdle) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Removes every finished task (completed, failed, cancelled) now. Handles you hold keep their
   * state. Returns how many were removed.
   */
  clearCompleted(): number {
    let removed = 0;
    for (const task of [...this.#tasks.values()]) {
      if (task.isCompleted) {
        this.#remove(task.id);
        removed += 1;
      }
    }
    return removed;
  }

  /**
   * Stops the runner: cancels every pending and running task (their signals abort), stops the
   * supervisor and clears its timers, so the process can exit. Later `submit()` calls reject with
   * `RunnerStoppedError`. Finished tasks stay readable. Idempotent.
   */
  async stop(options: { drain?: boolean; timeout?: number | undefined } = {}): Promise<void> {
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    const timeout = checkTimeout('timeout', options.timeout);
    if (this.#stopped) return;
    const backend = this.#backend;
    if (backend) {
      this.#closing = true;
      // Remote tasks this runner submitted run elsewhere: with `drain` wait for them (up to
      // `timeout`) while the worker side lets its handlers finish or hands their jobs back.
      const mirrorsDone = options.drain ? this.#idleWithin(timeout) : undefined;
      await backend.stop({ drain: options.drain === true, timeout });
      await mirrorsDone;
      await backend.close();
      if (this.#stopped) return;
      // Mirrors still unfinished end `cancelled` here; their jobs are not cancelled.
      options = { ...options, drain: false };
    }
    if (options.drain) {
      const first = !this.#closing;
      this.#closing = true;
      if (first) {
        // Pending tasks will never start: end them now, with a reason that says so.
        for (const task of this.pendingTasks) this.#cancel(task, 'the runner stopped before this task started');
        this.#supervisor.send({ type: 'drain', timeout, at: this.#config.clock.now() });
      }
      await this.onIdle();
      if (this.#stopped) return;
    }
    this.#cancelEverything('the runner stopped');
    this.#stopped = true;
    this.#closing = true;
    this.#batch = undefined;
    this.#supervisor.send({ type: 'stop' });
    // Write the cancellations, then give the store up so another runner may take it.
    this.#sync?.close();
    this.#releaseIdleWaiters();
  }

  /**
   * Stops admitting tasks: running tasks go on, pending ones wait (and may still be submitted or
   * cancelled) until `resume()`.
   */
  pause(): void {
    if (this.#stopped) return;
    this.#flush();
    this.#supervisor.send({ type: 'pause', at: this.#config.clock.now() });
  }

  /** Admits tasks again after `pause()`. */
  resume(): void {
    if (this.#stopped) return;
    this.#flush();
    this.#supervisor.send({ type: 'resume', at: this.#config.clock.now() });
  }

  /** Whether the runner is paused. */
  get isPaused(): boolean {
    return this.#supervisor.getSnapshot().value === 'paused';
  }

  /**
   * Changes `maxConcurrentTasks` at run time. Growing admits waiting tasks at once; shrinking lets
   * running tasks finish and admits no more until fewer than `n` run.
   *
   * @throws TypeError/RangeError unless `n` is a positive integer.
   */
  setConcurrency(n: number): void {
    checkPositiveInteger('maxConcurrentTasks', n);
    if (this.#stopped) return;
    this.#flush();
    this.#supervisor.send({ type: 'configure', maxConcurrentTasks: n, at: this.#config.clock.now() });
  }

  /** Whether `stop()` was called. */
  get isStopped(): boolean {
    return this.#stopped;
  }

  /**
   * An `@xstate/store` store of task summaries for apps and UIs: `runner.registry.select((c) =>
   * c.counts.running).subscribe(render)`. Created on first use, so runners nobody watches pay nothing.
   */
  get registry(): TaskRegistry {
    this.#registry ??= createTaskRegistry([...this.#tasks.values()].map((task) => task._summary()));
    return this.#registry;
  }

  /**
   * Adds a listener; see {@link RunnerEvents} for the events and payloads. A listener that throws
   * is reported on `'error'` and does not stop other listeners.
   */
  on<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    this.#emitter.on(event, this.#wrap(event, listener));
    return this;
  }

  /** Adds a listener that is removed after its first call. */
  once<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    this.#emitter.once(event, this.#wrap(event, listener));
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    const wrapped = this.#wrapped.get(listener as Listener);
    if (wrapped) this.#emitter.off(event, wrapped);
    return this;
  }

  /** How many listeners `event` has. */
  listenerCount(event: RunnerEventName): number {
    return this.#emitter.listenerCount(event);
  }

  /** Removes all listeners, or those of one event. */
  removeAllListeners(event?: RunnerEventName): this {
    this.#emitter.removeAllListeners(event);
    return this;
  }

  // ---------------------------------------------------------------- internals

  #submit<TResult>(fn: unknown, options: SubmitOptions<TResult>): BackgroundTask<TResult> {
    if (this.#closing) throw new RunnerStoppedError('submit a task');
    let handler: string | undefined;
    if (typeof fn !== 'function') {
      if (typeof fn !== 'string') invalid('fn', 'a function or the name of a defined handler', fn);
      handler = fn;
      fn = this.#handlers.get(handler);
      if (fn === undefined) throw new UnknownHandlerError(handler, [...this.#handlers.keys()]);
      if (options !== null && typeof options === 'object' && Array.isArray(options.args)) checkJsonArgs(options.args);
    }
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    const { args = [], name, onComplete, onProgress, onChunk, collect, metadata = {}, priority = 0, group, retries = 0, retryOnTimeout = true } =
      options;
    if (!Array.isArray(args)) invalid('args', 'an array', args);
    if (name !== undefined && (typeof name !== 'string' || name === '')) invalid('name', 'a non-empty string', name);
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) invalid('metadata', 'an object', metadata);
    checkFunction('onComplete', onComplete);
    checkFunction('onProgress', onProgress);
    checkFunction('onChunk', onChunk);
    checkFunction('collect', collect);
    // Work that crosses a boundary (a worker thread) checks its arguments here, at submit time.
    (fn as { [VALIDATE_ARGS]?: (args: readonly unknown[]) => void })[VALIDATE_ARGS]?.(args);
    const timeout = 'timeout' in options ? checkTimeout('timeout', options.timeout) : this.#config.defaultTimeout;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) invalid('priority', 'a finite number', priority);
    if (group !== undefined && (typeof group !== 'string' || group === '')) invalid('group', 'a non-empty string', group);
    checkNonNegativeInteger('retries', retries);
    if (typeof retryOnTimeout !== 'boolean') invalid('retryOnTimeout', 'a boolean', retryOnTimeout);
    const backoff = checkBackoff(options.backoff);
    if (this.#pending >= this.#config.maxQueueSize) throw new QueueFullError(this.#config.maxQueueSize);

    const taskId = randomUUID();
    const now = this.#config.clock.now();
    const context = initialTaskContext({
      taskId,
      name: name ?? (handler ?? ((fn as TaskFunction).name || 'task')),
      timeout,
      metadata,
      createdAt: now,
      work: new Execution(taskId, fn as (...a: unknown[]) => unknown, args, this.#config.clock.now, collect as Collect | undefined),
      maxAttempts: retries + 1,
      backoff,
      retryOnTimeout,
    });
    const task = new BackgroundTask<TResult>(this.#host, context, onComplete, onProgress, onChunk);
    if (this.#sync !== undefined) {
      this.#sync.track(task as BackgroundTask, { handler: handler ?? null, args: handler === undefined ? null : [...args], priority, group: group ?? null });
    }
    this.#enqueue(task as BackgroundTask, priority, group);
    return task;
  }

  /**
   * Submits a named task to the backend: held here `pending` as a mirror whose `execute` is the
   * remote job ({@link RemoteWork}), driven by the backend's events through the same chart.
   */
  async #submitRemote(backend: BackendSession, name: unknown, options: SubmitOptions): Promise<BackgroundTask> {
    if (this.#closing) throw new RunnerStoppedError('submit a task');
    if (typeof name !== 'string') {
      if (typeof name === 'function') throw remoteNeedsName('submit(fn)');
      invalid('fn', 'the name of a handler defined in a worker process', name);
    }
    if (name === '') invalid('name', 'a non-empty string', name);
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    const { args = [], onComplete, onProgress, onChunk, metadata = {}, priority = 0, retries = 0, retryOnTimeout = true } = options;
    if (!Array.isArray(args)) invalid('args', 'an array', args);
    checkJsonArgs(args);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) invalid('name', 'a non-empty string', options.name);
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) invalid('metadata', 'an object', metadata);
    checkFunction('onComplete', onComplete);
    checkFunction('onProgress', onProgress);
    checkFunction('onChunk', onChunk);
    if (options.collect !== undefined) invalid('collect', 'undefined with a `backend` (a worker returns the result)', options.collect);
    const timeout = 'timeout' in options ? checkTimeout('timeout', options.timeout) : this.#config.defaultTimeout;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) invalid('priority', 'a finite number', priority);
    checkNonNegativeInteger('retries', retries);
    if (typeof retryOnTimeout !== 'boolean') invalid('retryOnTimeout', 'a boolean', retryOnTimeout);
    const backoff = checkBackoff(options.backoff);
    if (this.#pending >= this.#config.maxQueueSize) throw new QueueFullError(this.#config.maxQueueSize);
    const taskId = randomUUID();
    const context = initialTaskContext({
      taskId,
      name: options.name ?? name,
      // The worker enforces the timeout; the mirror arms no timer of its own.
      timeout: undefined,
      metadata,
      createdAt: this.#config.clock.now(),
      work: new RemoteWork(taskId, name, args, timeout),
      maxAttempts: retries + 1,
      backoff,
      retryOnTimeout,
    });
    const task = new BackgroundTask(this.#host, context, onComplete, onProgress, onChunk);
    this.#tasks.set(taskId, task);
    if (this.#config.inspect) this.#materialize(task);
    this.#registry?.trigger.upsert({ summary: task._summary() });
    this.#active += 1;
    this.#pending += 1;
    // Announced before the job exists, so `submitted` always comes before `started`.
    if (this.#listens('submitted')) this.#emit('submitted', { task });
    try {
      await backend.submit({
        taskId,
        handler: name,
        args: [...args],
        name: context.name,
        timeout,
        maxAttempts: retries + 1,
        backoff: context.backoff,
        retryOnTimeout,
        priority,
        metadata,
      });
    } catch (error) {
      // Never queued: end the mirror and forget it, so the caller's rejection is the only trace.
      this.#cancel(task, 'the backend refused the task');
      this.#tasks.delete(taskId);
      this.#registry?.trigger.remove({ taskId });
      throw error;
    }
    return task;
  }

  /** Makes a new pending task known to the runner and queues it. */
  #enqueue(task: BackgroundTask, priority: number, group: string | undefined): void {
    this.#tasks.set(task.id, task);
    if (this.#config.inspect) this.#materialize(task);
    this.#registry?.trigger.upsert({ summary: task._summary() });
    this.#active += 1;
    this.#pending += 1;
    if (this.#listens('submitted')) this.#emit('submitted', { task });
    this.#tellSubmitted({ taskId: task.id, priority, group, seq: 0 });
  }

  /** Sends an event to a task: to its actor if it has one, else through the compact transition. */
  #dispatch(task: BackgroundTask, event: TaskMachineEvent): void {
    if (isFinalStatus(task._status)) return; // a final state ignores everything
    if (task._actor) {
      task._actor.send(event);
      return;
    }
    const next = transitionTask(task._status, task._context, event);
    if (next) this.#commit(task, next[0], next[1]);
  }

  /**
   * Records a task's new state (from the compact transition or the actor's snapshot) and carries
   * out what follows: effects for actor-less tasks, callbacks, waiters, events, the registry, and
   * telling the supervisor about a finished task.
   */
  #commit(task: BackgroundTask, status: TaskStatus, context: TaskMachineContext): void {
    const previous = task._status;
    const previousContext = task._context;
    if (previous === status && previousContext === context) return;
    task._status = status;
    task._context = context;
    if (this.#sync !== undefined) this.#sync.touch(task);
    const execution = context.work as Execution;

    if (previous === status) {
      if (status !== 'running') return;
      const reported = context.progress !== previousContext.progress || context.message !== previousContext.message;
      const streamed = context.chunks !== previousContext.chunks;
      if (!reported && !streamed) return;
      this.#registry?.trigger.upsert({ summary: task._summary() });
      if (reported && task._onProgress) this.#call('onProgress', task, () => task._onProgress!(context.progress, context.message, task));
      if (streamed && task._onChunk) this.#call('onChunk', task, () => task._onChunk!(context.chunk, task));
      if (this.#listens('progress')) {
        const { progress, message } = context;
        this.#emit('progress', streamed ? { task, progress, message, chunk: context.chunk } : { task, progress, message });
      }
      return;
    }

    // Leave the old state: undo its effects.
    if (previous === 'pending') this.#pending -= 1;
    if (task._timer !== undefined) {
      this.#config.clock.clearTimeout(task._timer);
      task._timer = undefined;
    }
    if (previous === 'running') {
      this.#running.delete(task);
      // Abort with the task's own error, so `signal.reason` is the TaskCancelledError/TaskTimeoutError.
      execution.abort(context.error);
    }
    this.#registry?.trigger.upsert({ summary: task._summary() });

    if (status === 'running') {
      this.#running.add(task);
      // Announce the start before calling the work, so a sync progress report follows 'started'.
      if (this.#listens('started')) this.#emit('started', { task, attempt: context.attempt });
      if (!task._actor && task._status === 'running') {
        // The actor-less equivalent of the machine's `running` state: invoke the work, arm the timeout.
        execution.attach((event) => this.#dispatch(task, event), context.attempt);
        if (context.timeout !== undefined && task._status === 'running') {
          task._timer = this.#schedule(context.timeout, () => this.#dispatch(task, { type: 'timeout' }), task);
        }
      }
      return;
    }

    if (status === 'retrying') {
      const retryAt = context.retryAt ?? this.#config.clock.now();
      const failedAt = context.attempts.at(-1)?.completedAt ?? retryAt;
      const delayMs = Math.max(0, retryAt - failedAt);
      if (!task._actor) task._timer = this.#schedule(delayMs, () => this.#dispatch(task, { type: 'retry', at: retryAt }), task);
      this.#emit('retrying', { task, error: context.error!, attempt: context.attempt, delayMs });
      return;
    }

    if (!isFinalStatus(status)) return;
    task._settleWaiters();
    if (task._onComplete) this.#call('onComplete', task, () => task._onComplete!(task));
    if (this.#listens(status)) {
      if (status === 'completed') this.#emit('completed', { task });
      else if (status === 'failed') this.#emit('failed', { task, error: context.error! });
      else if (status === 'lost') this.#emit('lost', { task, error: context.error! });
      else this.#emit('cancelled', { task });
    }
    // A remote task never held a slot here: the supervisor only schedules its cleanup.
    if (previous === 'pending' || this.#backend) this.#tell('withdrawn', task.id);
    else this.#tell('settled', task.id);
    this.#active -= 1;
    if (this.#active === 0) this.#idle();
  }

  /** A timer on the runner's clock that never holds the process open. */
  #schedule(ms: number, fn: () => void, task: BackgroundTask): unknown {
    return unref(
      this.#config.clock.setTimeout(() => {
        task._timer = undefined;
        fn();
      }, ms),
    );
  }

  #tellSubmitted(entry: QueuedTask): void {
    this.#openBatch()?.submitted.push(entry);
  }

  /** Queues a fact for the supervisor; the first one in a microtask schedules the flush. */
  #tell(kind: 'withdrawn' | 'settled', taskId: TaskId): void {
    this.#openBatch()?.[kind].push(taskId);
  }

  #openBatch(): Batch | undefined {
    if (this.#stopped) return undefined;
    if (!this.#batch) {
      this.#batch = this.#spareBatch ?? { type: 'sync', submitted: [], withdrawn: [], settled: [], at: 0 };
      this.#spareBatch = undefined;
      queueMicrotask(this.#flush);
    }
    return this.#batch;
  }

  readonly #flush = (): void => {
    const batch = this.#batch;
    this.#batch = undefined;
    if (!batch || this.#stopped) return;
    batch.at = this.#config.clock.now();
    if (!this.#supervisorObserved && syncInPlace(this.#supervisor.getSnapshot(), batch, this.#outbox)) {
      // Nothing kept a reference to it (an event sent to the actor may be kept by an inspector).
      batch.submitted.length = 0;
      batch.withdrawn.length = 0;
      batch.settled.length = 0;
      this.#spareBatch = batch;
      return;
    }
    this.#supervisor.send(batch);
  };

  #admit(taskId: TaskId): void {
    const task = this.#tasks.get(taskId);
    if (task?.status === 'pending') {
      this.#dispatch(task, { type: 'start', at: this.#config.clock.now() });
    } else {
      // Cancelled while the supervisor was admitting it: give the slot back.
      this.#tell('settled', taskId);
    }
  }

  #cancel(task: BackgroundTask, reason: string | undefined): boolean {
    if (task.isCompleted) return false;
    this.#dispatch(task, { type: 'cancel', at: this.#config.clock.now(), reason });
    return task.status === 'cancelled';
  }

  #cancelEverything(reason: string | undefined): number {
    let cancelled = 0;
    // Pending first, so no slot freed by a cancel admits a task that is about to be cancelled.
    for (const task of this.pendingTasks) if (this.#cancel(task, reason)) cancelled += 1;
    for (const task of [...this.#tasks.values()]) if (!task.isCompleted && this.#cancel(task, reason)) cancelled += 1;
    return cancelled;
  }

  #remove(taskId: TaskId): void {
    const task = this.#tasks.get(taskId);
    if (!task?.isCompleted) return;
    this.#tasks.delete(taskId);
    this.#registry?.trigger.remove({ taskId });
    // A task actor in a final state has already stopped and left the actor system by itself.
  }

  /** Shows a task recovered in a final state: held until cleanup like any finished task, and delivered. */
  #restoreFinished(row: StoredTask, status: TaskStatus, context: TaskMachineContext, info: SubmitInfo): BackgroundTask {
    const task = new BackgroundTask(this.#host, context, undefined, undefined);
    task._status = status;
    this.#tasks.set(task.id, task);
    this.#registry?.trigger.upsert({ summary: task._summary() });
    // Known to the supervisor only as finished, so cleanup removes it after `cleanupDelay`.
    this.#tell('withdrawn', task.id);
    if (status === 'lost' && this.#listens('lost')) this.#emit('lost', { task, error: context.error! });
    if (status !== row.status || !row.delivered) this.#deliver(task);
    this.#sync?.track(task, info);
    return task;
  }

  /** Hands a recovered task's outcome to `onRecovered` and the `'recovered'` event. */
  #deliver(task: BackgroundTask): void {
    const { onRecovered } = this.#config;
    const received = onRecovered !== undefined || this.#listens('recovered');
    if (onRecovered) this.#call('onRecovered', task, () => onRecovered(task));
    if (this.#listens('recovered')) this.#emit('recovered', { task });
    this.#sync?.setUndelivered(task.id, !received);
  }

  #idle(): void {
    this.#releaseIdleWaiters();
    this.#emit('idle', {});
  }

  #releaseIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Gives a task its actor: created in the task's current state with the supervisor as parent, so
   * inspectors show it under the supervisor. A running task's work keeps running: the restored
   * `execute` child attaches to it, and the timeout already armed stays armed.
   */
  #materialize(task: BackgroundTask): TaskActor {
    if (task._actor) return task._actor;
    const snapshot = taskLogic.resolveState({ value: task._status, context: task._context });
    const actor = createActor(taskLogic, {
      snapshot,
      parent: this.#supervisor,
      id: task.id,
      input: task._context as TaskMachineInput,
    });
    task._actor = actor;
    actor.subscribe({
      next: (snap) => this.#commit(task, snap.value as TaskStatus, snap.context),
      error: (error) => this.#report(error, 'listener', task.id),
    });
    actor.start();
    return actor;
  }

  /** Whether `event` has listeners: lets hot paths skip building a payload nobody reads. */
  #listens(event: RunnerEventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  #emit<E extends RunnerEventName>(event: E, payload: Parameters<RunnerEvents[E]>[0]): void {
    this.#emitter.emit(event, payload);
  }

  #wrap(event: RunnerEventName, listener: unknown): Listener {
    if (typeof listener !== 'function') invalid('listener', 'a function', listener);
    let wrapped = this.#wrapped.get(listener as Listener);
    if (!wrapped) {
      wrapped = ((payload: unknown) => {
        try {
          (listener as (payload: unknown) => void)(payload);
        } catch (error) {
          if (event === 'error') return; // never loop on a throwing error listener
          const taskId = (payload as { task?: BackgroundTask } | undefined)?.task?.id;
          this.#report(error, 'listener', taskId);
        }
      }) as Listener;
      this.#wrapped.set(listener as Listener, wrapped);
    }
    return wrapped;
  }

  #call(source: 'onComplete' | 'onProgress' | 'onChunk' | 'onRecovered', task: BackgroundTask, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#report(error, source, task.id);
    }
  }

  #report(
    error: unknown,
    source: 'onComplete' | 'onProgress' | 'onChunk' | 'onRecovered' | 'listener' | 'store' | 'backend',
    taskId: TaskId | undefined,
  ): void {
    if (this.#emitter.listenerCount('error') > 0) {
      this.#emit('error', { error, source, taskId });
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`tasklane: ${source} for task ${taskId ?? '-'} threw: ${message}`, { code: 'TASKLANE_CALLBACK_ERROR' });
  }
}

/** A task's context rebuilt from its stored record; `requeue` readies it to start again. */
function restoredContext(row: StoredTask, work: unknown, requeue: boolean): TaskMachineContext {
  const base = initialTaskContext({
    taskId: row.id,
    name: row.name,
    timeout: row.timeout ?? undefined,
    metadata: row.metadata,
    createdAt: row.createdAt,
    work,
    // A crash does not use up a retry: the interrupted attempt gets its run again.
    maxAttempts: requeue ? Math.max(row.maxAttempts, row.attempt + 1) : row.maxAttempts,
    backoff: row.backoff,
    retryOnTimeout: row.retryOnTimeout,
  });
  return {
    ...base,
    attempt: row.attempt,
    startedAt: row.startedAt ?? undefined,
    completedAt: requeue ? undefined : (row.completedAt ?? undefined),
    progress: row.progress,
    message: row.message ?? undefined,
    result: requeue ? undefined : (row.result ?? undefined),
    error: requeue || row.error === null ? undefined : fromStoredError(row.error),
  };
}

/** The context after ending a stored active task with `cancel` or `lose`, through the machine's own transition. */
function updatesAfter(row: StoredTask, event: Extract<TaskMachineEvent, { type: 'cancel' | 'lose' }>): TaskMachineContext {
  return transitionTask('pending', restoredContext(row, null, false), event)![1];
}

/** The TypeError for work a remote backend cannot carry to another process. */
function remoteNeedsName(call: string): TypeError {
  return new TypeError(
    `${call} cannot run on a remote backend: functions do not cross processes. define() a handler in the worker process (runner.define('name', fn)) and submit it by name: runner.submit('name', { args })`,
  );
}

function unref<T>(handle: T): T {
  (handle as { unref?: () => void } | undefined)?.unref?.();
  return handle;
}
