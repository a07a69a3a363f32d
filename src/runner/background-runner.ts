import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { agentWork } from '../actors/run-agent.js';
import { Execution } from '../actors/run-function.js';
import type { Collect } from '../actors/run-function.js';
import { RemoteWork } from '../backends/backend.js';
import type { BackendSession, RemoteSubmission } from '../backends/backend.js';
import { messageOf, QueueFullError, RunnerStoppedError, TaskCancelledError, UnknownHandlerError } from '../errors.js';
import type { SupervisorActor } from '../machines/supervisor-machine.js';
import { initialTaskContext } from '../machines/task-chart.js';
import { TaskStatus, VALIDATE_ARGS } from '../types.js';
import type { TaskFunction, TaskId } from '../types.js';
import {
  checkFunction,
  checkKnownKeys,
  checkNonNegativeInteger,
  checkPositiveInteger,
  checkReason,
  checkTimeout,
  invalid,
  readingArguments,
} from '../validate.js';
import { BackgroundTask } from './background-task.js';
import type { TaskRecord } from './background-task.js';
import { RunnerEmitter } from './events.js';
import type { RunnerEventName, RunnerEvents } from './events.js';
import { IdleWaiters } from './idle-waiters.js';
import { checkJsonArgs } from './json-args.js';
import { checkBackoff, resolveConfig, SUBMIT_OPTION_KEYS } from './options.js';
import type { BackgroundConfig, ResolvedConfig, RunnerConfig, SubmitOptions } from './options.js';
import { recoverTasks } from './recovery.js';
import type { RecoverResult } from './recovery.js';
import { createTaskRegistry } from './registry.js';
import type { TaskRegistry } from './registry.js';
import { StoreSync } from './store-sync.js';
import type {
  AgentChunk,
  AgentResult,
  AnyWork,
  ArgsCheck,
  HandlerMap,
  KnownHandlerName,
  NamedOptionsParam,
  StreamingWork,
  SubmittableAgent,
  HandlerName,
  WithHandler,
  WorkChunk,
  WorkFunction,
  WorkOptions,
  WorkResult,
} from './submit-types.js';
import { SupervisorLink } from './supervisor-link.js';
import { TaskDriver } from './task-driver.js';
import { createTaskIds } from './task-ids.js';
import { TaskTable } from './task-table.js';

export type { RecoverResult } from './recovery.js';

/** Options of `runner.submitAgent(agent, prompt, options)`. */
export type SubmitAgentOptions<TResult = unknown, TChunk = unknown> = Omit<SubmitOptions<NoInfer<TResult>, NoInfer<TChunk>>, 'args'>;

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
export class BackgroundRunner<THandlers extends HandlerMap = HandlerMap> {
  readonly #config: ResolvedConfig;
  readonly #emitter = new RunnerEmitter();
  readonly #table = new TaskTable();
  readonly #idle: IdleWaiters;
  readonly #driver: TaskDriver;
  readonly #link: SupervisorLink;
  readonly #handlers = new Map<string, TaskFunction>();
  readonly #nextId = createTaskIds();
  /** Present only with a `store`: every store-related cost sits behind `#sync !== undefined`. */
  readonly #sync: StoreSync | undefined;
  /** Present only with a `backend`: its tasks run elsewhere and are mirrored here. */
  readonly #backend: BackendSession | undefined;
  #stopped = false;
  /** `stop({ drain: true })` has begun: no more submits. */
  #closing = false;

  /**
   * @param options - see {@link BackgroundConfig}; every field is optional.
   * @throws TypeError or RangeError naming the option, for a bad value.
   */
  constructor(options: BackgroundConfig = {}) {
    this.#config = readingArguments('new BackgroundRunner()', () => resolveConfig(options));
    const { clock } = this.#config;
    if (this.#config.store) {
      this.#sync = new StoreSync({
        store: this.#config.store,
        owner: { id: randomUUID(), pid: process.pid, host: hostname() },
        now: clock.now,
        onCancelRequested: (ids) => {
          const reason = 'cancel requested through the store';
          for (const id of ids) {
            const task = this.#table.get(id);
            if (task) this.#driver.cancel(task, reason);
            else this.#sync!.cancelUnheld(id, new TaskCancelledError(id, reason));
          }
        },
        onUnsaved: (task, error) => this.#driver.cancel(task, error.message),
        onLockLost: () => this.#driver.cancelEverything("another runner took the store's lock over; the task is its to run now"),
        onError: (error, taskId) => this.#emitter.report(error, 'store', taskId),
      });
    }
    this.#idle = new IdleWaiters(clock);
    this.#driver = new TaskDriver(this.#config, this.#emitter, this.#table, this.#idle, this.#sync);
    this.#link = new SupervisorLink(this.#config, this.#driver, (error, source, taskId) => this.#emitter.report(error, source, taskId));
    this.#driver.link = this.#link;
    this.#backend = this.#config.backend?.connect({
      dispatch: (taskId, event) => {
        const task = this.#table.get(taskId);
        if (task) this.#driver.dispatch(task, event);
      },
      peek: (taskId) => {
        const task = this.#table.get(taskId);
        if (!task) return undefined;
        return { status: task._status, failedAttempts: task._context.attempts.length };
      },
      activeIds: () => this.#table.activeIds(),
      handler: (name) => this.#handlers.get(name),
      now: () => clock.now(),
      concurrency: this.#config.maxConcurrentTasks,
      rateLimit: this.#config.rateLimit,
      report: (error) => this.#emitter.report(error, 'backend', undefined),
    });
    // A remote task's cancel goes to the backend, until stop() ends the mirrors here.
    if (this.#backend)
      this.#driver.cancelRemote = (task, reason) =>
        this.#closing ? Promise.resolve(this.#driver.cancel(task, reason)) : this.#cancelRemote(task.id, reason);
  }

  /** The options in force, defaults applied. */
  get config(): RunnerConfig {
    const { defaultTimeout, autoCleanup, cleanupDelay, maxFinishedTasks, rateLimit, groupRateLimit, maxQueueSize, resume } = this.#config;
    const { maxConcurrentTasks } = this.#link;
    return {
      maxConcurrentTasks,
      defaultTimeout,
      autoCleanup,
      cleanupDelay,
      maxFinishedTasks,
      rateLimit,
      groupRateLimit,
      maxQueueSize,
      resume,
    };
  }

  /**
   * The supervisor actor: the runner's modes (`open`, `paused`, `draining`, `stopped`), its timers,
   * and in its context the admission queue's state. Reading it changes nothing: per-task `sync`
   * facts that need no timer are applied to its context in place (no xstate step per task) whether
   * or not anyone reads it, so its `getSnapshot().context` is always current, while `subscribe`
   * sees the steps that go through the actor (pause, resume, resize, drain, stop, cleanup sweeps,
   * rate-limit ticks). With `inspect`, every event goes through the actor, so the inspector sees
   * each `sync`.
   */
  get supervisor(): SupervisorActor {
    return this.#link.actor;
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
  async submit<
    F extends WorkFunction<TArgs, AsyncIterable<unknown> | PromiseLike<AsyncIterable<unknown>>>,
    TItem,
    TCollected,
    TArgs extends readonly [] | readonly unknown[] = [],
  >(
    fn: F & ArgsCheck<F, TArgs> & StreamingWork<TItem>,
    options: Omit<WorkOptions<TArgs, Awaited<TCollected>, TItem>, 'onChunk'> & {
      collect: (items: TItem[]) => TCollected;
      /**
       * Called with each streamed item as it arrives. Its `task` is still running (no result yet),
       * so it is typed without one: that keeps `collect`'s result type, wherever `onChunk` is written.
       */
      onChunk?: ((chunk: TItem, task: BackgroundTask) => void) | undefined;
    },
  ): Promise<BackgroundTask<Awaited<TCollected>>>;
  async submit<F extends WorkFunction<TArgs>, TArgs extends readonly [] | readonly unknown[] = []>(
    fn: F & ArgsCheck<F, TArgs>,
    options?: WorkOptions<TArgs, WorkResult<F>, WorkChunk<F>>,
  ): Promise<BackgroundTask<WorkResult<F>>>;
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
   * const runner = new BackgroundRunner().define('research', async (topic: string, ctx: TaskContext) => lookUp(topic, ctx.signal));
   * const task = await runner.submit('research', { args: ['AI'] }); // BackgroundTask<Result of lookUp>
   * ```
   */
  async submit<THandlerMap extends HandlerMap, TName extends KnownHandlerName<THandlerMap>>(
    this: BackgroundRunner<THandlerMap>,
    name: TName,
    ...options: NamedOptionsParam<THandlerMap[TName]>
  ): Promise<BackgroundTask<WorkResult<THandlerMap[TName]>>>;
  /**
   * Submits a task by name on a runner whose handlers the compiler does not know (`define()` was
   * not chained onto it): any name compiles, and the result is `TResult` (default `unknown`).
   */
  async submit<TResult = unknown, THandlerMap extends HandlerMap = THandlers>(
    this: BackgroundRunner<THandlerMap>,
    name: HandlerName<THandlerMap>,
    options?: SubmitOptions<TResult>,
  ): Promise<BackgroundTask<TResult>>;
  async submit(fn: unknown, options: SubmitOptions = NO_OPTIONS): Promise<BackgroundTask> {
    if (this.#backend) return this.#submitRemote(this.#backend, fn, options);
    const task = readingArguments('submit()', () => this.#submit(fn, options));
    // With a store, the submit is acknowledged once the task's record is committed.
    if (this.#sync !== undefined) await this.#sync.saved(task);
    return task;
  }

  /**
   * Writes every change not yet in the store now, in one transaction, and resolves once it is
   * committed: for code that must know everything so far is on disk (before `process.exit()`,
   * say). Without a store it resolves at once. A `submit()` already waits for its record, and a
   * `wait()` for the final state's; changes in between are written on the next event-loop turn.
   *
   * @throws the store's error when the write failed (also reported on `'error'`).
   */
  async flush(): Promise<void> {
    const error = this.#sync?.flush();
    if (error !== undefined) throw error;
  }

  /**
   * Registers `handler` under `name`, for `submit(name, { args })`. Named tasks can be re-queued
   * after a crash (see the `store` option and {@link BackgroundRunner.recover}); the handler is
   * called like a submitted function, as `handler(...args, context)`.
   *
   * @returns the runner, so definitions chain; a chain types `submit(name, { args })` end to end
   *   (arguments checked, result typed, unknown names a compile error).
   * @throws TypeError for an empty name, a non-function handler, or a name already defined.
   *
   * @example
   * ```ts
   * const runner = new BackgroundRunner()
   *   .define('research', async (topic: string, ctx: TaskContext) => research(topic, ctx.signal))
   *   .define('summarise', async (text: string) => summarise(text));
   * ```
   */
  define<TName extends string, H extends AnyWork, THandlerMap extends HandlerMap = THandlers>(
    this: BackgroundRunner<THandlerMap>,
    name: TName,
    handler: H,
  ): BackgroundRunner<WithHandler<THandlerMap, TName, H>>;
  define(name: string, handler: AnyWork): unknown {
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
  async submitAgent<TAgent extends SubmittableAgent>(
    agent: TAgent,
    prompt: string,
    options?: SubmitAgentOptions<AgentResult<TAgent>, AgentChunk<TAgent>>,
  ): Promise<BackgroundTask<AgentResult<TAgent>>>;
  async submitAgent<TResult = unknown>(
    agent: object,
    prompt: string,
    options?: SubmitAgentOptions<TResult>,
  ): Promise<BackgroundTask<TResult>>;
  async submitAgent(agent: object, prompt: string, options: SubmitAgentOptions = {}): Promise<BackgroundTask> {
    if (this.#backend) throw remoteNeedsName('submitAgent(agent, prompt)');
    const task = readingArguments('submitAgent()', () => {
      if (typeof prompt !== 'string') invalid('prompt', 'a string', prompt);
      if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
      const { method, work } = agentWork(agent);
      const agentName = (agent as { name?: unknown }).name;
      const name = options.name ?? (typeof agentName === 'string' && agentName ? `${agentName}.${method}` : `agent.${method}`);
      return this.#submit(work, { ...options, name, args: [prompt] });
    });
    if (this.#sync !== undefined) await this.#sync.saved(task);
    return task;
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
    if (sync === undefined)
      invalid('store', "a TaskStore for recover(); pass { store: sqliteStore({ path }) } from 'tasklane/sqlite'", undefined);
    if (this.#closing) throw new RunnerStoppedError('recover tasks');
    return recoverTasks({
      config: this.#config,
      sync,
      table: this.#table,
      driver: this.#driver,
      emitter: this.#emitter,
      handlers: this.#handlers,
    });
  }

  /** Every task the runner still holds (finished ones until cleanup), in submission order. */
  get tasks(): BackgroundTask[] {
    return this.#table.all();
  }

  /** The tasks running now. */
  get runningTasks(): BackgroundTask[] {
    return this.#table.running();
  }

  /** The tasks waiting for a slot, in submission order. */
  get pendingTasks(): BackgroundTask[] {
    return this.#table.pendingTasks();
  }

  /** Whether nothing is pending or running. */
  get isIdle(): boolean {
    return this.#table.isIdle;
  }

  /** The task with this id, or `undefined` (unknown, or already cleaned up). */
  getTask(id: TaskId): BackgroundTask | undefined {
    return this.#table.get(id);
  }

  /** Plain JSON records of the tasks, optionally only those in `status`. */
  listTasks(options: { status?: TaskStatus | readonly TaskStatus[] } = {}): TaskRecord[] {
    const status = readingArguments('listTasks()', () => {
      if (options === null || typeof options !== 'object') invalid('options', 'an object like { status: "running" }', options);
      const { status } = options;
      return status === undefined ? undefined : checkStatuses(status);
    });
    return this.#table.list(status);
  }

  /**
   * Cancels a pending or running task. Resolves `true` if it was cancelled by this call, `false`
   * if it is unknown or had already finished.
   */
  async cancelTask(id: TaskId, reason?: string): Promise<boolean> {
    checkReason(reason);
    // A remote task ends when the backend says so (a waiting job removed, a running one aborted where it runs).
    if (this.#backend && !this.#closing) return this.#cancelRemote(id, reason);
    const task = this.#table.get(id);
    return task ? this.#driver.cancel(task, reason) : false;
  }

  /**
   * Cancels every pending task, then every running or retrying one (so no pending task starts in
   * between).
   * Resolves with how many were cancelled.
   */
  async cancelAll(reason?: string): Promise<number> {
    checkReason(reason);
    const backend = this.#backend;
    if (backend && !this.#closing) {
      const active = this.#table.activeIds();
      const results = await Promise.all(active.map((id) => backend.cancel(id, reason)));
      return results.filter(Boolean).length;
    }
    return this.#driver.cancelEverything(reason);
  }

  /**
   * Waits until nothing is pending or running, then resolves with all tasks the runner holds.
   * Failed and cancelled tasks do not reject it; inspect their `status`.
   *
   * @throws WaitTimeoutError when `timeout` ms pass first (the tasks keep running).
   */
  async waitAll(options: { timeout?: number | undefined } = {}): Promise<BackgroundTask[]> {
    const timeout = readingArguments('waitAll()', () => {
      if (options === null || typeof options !== 'object') invalid('options', 'an object like { timeout: 1_000 }', options);
      return checkTimeout('timeout', options.timeout);
    });
    if (!this.isIdle) await this.#idle.wait(timeout);
    return this.tasks;
  }

  /** Resolves when nothing is pending or running (at once if that is so now). */
  async onIdle(): Promise<void> {
    if (this.isIdle) return;
    await this.#idle.wait();
  }

  /**
   * Removes every finished task (completed, failed, cancelled) now. Handles you hold keep their
   * state. Returns how many were removed.
   */
  clearCompleted(): number {
    let removed = 0;
    for (const task of this.#table.all()) if (this.#driver.forget(task)) removed += 1;
    return removed;
  }

  /**
   * Stops the runner: cancels every pending and running task (their signals abort), stops the
   * supervisor and clears its timers, so the process can exit. Later `submit()` calls reject with
   * `RunnerStoppedError`. Finished tasks stay readable. Idempotent.
   */
  async stop(options: { drain?: boolean; timeout?: number | undefined } = {}): Promise<void> {
    const { timeout, drain } = readingArguments('stop()', () => {
      if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
      return { timeout: checkTimeout('timeout', options.timeout), drain: Boolean(options.drain) };
    });
    if (this.#stopped) return;
    if (this.#backend) {
      await this.#stopBackend(this.#backend, drain, timeout);
      if (this.#stopped) return;
    } else if (drain) {
      const first = !this.#closing;
      this.#closing = true;
      if (first) {
        // Pending tasks will never start: end them now, with a reason that says so.
        for (const task of this.pendingTasks) this.#driver.cancel(task, 'the runner stopped before this task started');
        this.#link.drain(timeout);
      }
      await this.onIdle();
      if (this.#stopped) return;
    }
    this.#driver.cancelEverything('the runner stopped');
    this.#stopped = true;
    this.#closing = true;
    this.#link.stop();
    // Write the cancellations, then give the store up so another runner may take it.
    this.#sync?.close();
    this.#idle.release();
    this.#driver.releaseProcess();
  }

  /**
   * Stops admitting tasks: running tasks go on, pending ones wait (and may still be submitted or
   * cancelled) until `resume()`.
   */
  pause(): void {
    if (this.#stopped) return;
    this.#link.send({ type: 'pause', at: this.#config.clock.now() });
    this.#driver.holdProcess();
  }

  /** Admits tasks again after `pause()`. */
  resume(): void {
    if (this.#stopped) return;
    this.#link.send({ type: 'resume', at: this.#config.clock.now() });
    this.#driver.holdProcess();
  }

  /** Whether the runner is paused. */
  get isPaused(): boolean {
    return this.#link.isPaused;
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
    this.#link.send({ type: 'configure', maxConcurrentTasks: n, at: this.#config.clock.now() });
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
    this.#driver.registry ??= createTaskRegistry(this.#table.all().map((task) => task._summary()));
    return this.#driver.registry;
  }

  /**
   * Adds a listener; see {@link RunnerEvents} for the events and payloads. A listener that throws
   * is reported on `'error'` and does not stop other listeners.
   */
  on<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    this.#emitter.on(event, listener);
    return this;
  }

  /** Adds a listener that is removed after its first call. */
  once<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Removes a listener added with `on` or `once`. */
  off<E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): this {
    this.#emitter.off(event, listener);
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

  /**
   * What `console.log(runner)` and `util.inspect(runner)` print: a compact summary (concurrency,
   * mode, how many tasks are pending, running and held), not the internals.
   */
  [Symbol.for('nodejs.util.inspect.custom')](depth: number, options: object, inspect: (value: unknown, options: object) => string): string {
    const summary = {
      maxConcurrentTasks: this.#link.maxConcurrentTasks,
      paused: this.#link.pauseRequested,
      stopped: this.#stopped,
      pending: this.#table.pending,
      running: this.#table.running().length,
      tasks: this.#table.size,
    };
    return depth < 0 ? 'BackgroundRunner' : `BackgroundRunner ${inspect(summary, options)}`;
  }

  // ---------------------------------------------------------------- internals

  /** `cancelTask` with a backend: `false` for a finished (or unknown-here, finished-there) task. */
  async #cancelRemote(id: TaskId, reason: string | undefined): Promise<boolean> {
    const task = this.#table.get(id);
    return task?.isCompleted ? false : this.#backend!.cancel(id, reason);
  }

  /**
   * `stop()` with a backend. Remote tasks this runner submitted run elsewhere: with `drain`, wait
   * for them (up to `timeout`) while the worker side lets its handlers finish or hands their jobs
   * back; then close the backend. Mirrors still unfinished end `cancelled` in the stop that
   * follows (their jobs are not cancelled).
   */
  async #stopBackend(backend: BackendSession, drain: boolean, timeout: number | undefined): Promise<void> {
    this.#closing = true;
    const mirrorsDone = drain && !this.isIdle ? this.#idle.wait(timeout).catch(() => undefined) : undefined;
    await backend.stop({ drain, timeout });
    await mirrorsDone;
    await backend.close();
  }

  /**
   * Submits a named task to the backend: held here `pending` as a mirror whose `execute` is the
   * remote job ({@link RemoteWork}), driven by the backend's events through the same chart.
   */
  async #submitRemote(backend: BackendSession, name: unknown, options: SubmitOptions): Promise<BackgroundTask> {
    const { task, submission } = readingArguments('submit()', () => this.#remoteTask(name, options));
    this.#driver.track(task);
    try {
      await backend.submit(submission);
    } catch (error) {
      // Never queued: end the mirror and forget it, so the caller's rejection is the only trace.
      this.#driver.cancel(task, 'the backend refused the task');
      this.#driver.forget(task);
      throw error;
    }
    return task;
  }

  /** Validates a remote submit and builds its mirror (not yet known to the runner) and its submission. */
  #remoteTask(name: unknown, options: SubmitOptions): { task: BackgroundTask; submission: RemoteSubmission } {
    if (this.#closing) throw new RunnerStoppedError('submit a task');
    if (typeof name !== 'string') {
      if (typeof name === 'function') throw remoteNeedsName('submit(fn)');
      invalid('fn', 'the name of a handler defined in a worker process', name);
    }
    if (name === '') invalid('name', 'a non-empty string', name);
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    checkKnownKeys('submit(fn, options)', options, SUBMIT_OPTION_KEYS);
    const { args = [], onComplete, onProgress, onChunk, metadata = {}, priority = 0, retries = 0, retryOnTimeout = true } = options;
    if (!Array.isArray(args)) invalid('args', 'an array', args);
    checkJsonArgs(args);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === ''))
      invalid('name', 'a non-empty string', options.name);
    const copiedMetadata = options.metadata === undefined ? metadata : copyMetadata(metadata);
    checkFunction('onComplete', onComplete);
    checkFunction('onProgress', onProgress);
    checkFunction('onChunk', onChunk);
    if (options.collect !== undefined) invalid('collect', 'undefined with a `backend` (a worker returns the result)', options.collect);
    const timeout = 'timeout' in options ? checkTimeout('timeout', options.timeout) : this.#config.defaultTimeout;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) invalid('priority', 'a finite number', priority);
    checkNonNegativeInteger('retries', retries);
    if (typeof retryOnTimeout !== 'boolean') invalid('retryOnTimeout', 'a boolean', retryOnTimeout);
    const backoff = checkBackoff(options.backoff);
    if (this.#table.pending >= this.#config.maxQueueSize) throw new QueueFullError(this.#config.maxQueueSize);
    const taskId = randomUUID();
    const context = initialTaskContext({
      taskId,
      name: options.name ?? name,
      // The worker enforces the timeout; the mirror arms no timer of its own.
      timeout: undefined,
      metadata: copiedMetadata,
      createdAt: this.#config.clock.now(),
      work: new RemoteWork(taskId, name, args, timeout),
      maxAttempts: retries + 1,
      backoff,
      retryOnTimeout,
    });
    const task = BackgroundTask._create(this.#driver.host, context, onComplete, onProgress, onChunk);
    const submission: RemoteSubmission = {
      taskId,
      handler: name,
      args: [...args],
      name: context.name,
      timeout,
      maxAttempts: retries + 1,
      backoff: context.backoff,
      retryOnTimeout,
      priority,
      metadata: copiedMetadata,
    };
    return { task: task as BackgroundTask, submission };
  }

  #submit<TResult>(fn: unknown, options: SubmitOptions<TResult>): BackgroundTask<TResult> {
    if (this.#closing) throw new RunnerStoppedError('submit a task');
    // A runner that lost its store's lock takes no new work: it could not record it.
    if (this.#sync?.lost !== undefined) throw this.#sync.lost;
    let handler: string | undefined;
    if (typeof fn !== 'function') {
      if (typeof fn !== 'string') invalid('fn', 'a function or the name of a defined handler', fn);
      handler = fn;
      fn = this.#handlers.get(handler);
      if (fn === undefined) throw new UnknownHandlerError(handler, [...this.#handlers.keys()]);
      if (options !== null && typeof options === 'object' && Array.isArray(options.args)) checkJsonArgs(options.args);
    }
    if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
    checkKnownKeys('submit(fn, options)', options, SUBMIT_OPTION_KEYS);
    const {
      args = NO_ARGS,
      name,
      onComplete,
      onProgress,
      onChunk,
      collect,
      metadata = NO_METADATA,
      priority = 0,
      group,
      retries = 0,
      retryOnTimeout = true,
    } = options;
    if (!Array.isArray(args)) invalid('args', 'an array', args);
    if (name !== undefined && (typeof name !== 'string' || name === '')) invalid('name', 'a non-empty string', name);
    const copiedMetadata = options.metadata === undefined ? metadata : copyMetadata(metadata);
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
    if (this.#table.pending >= this.#config.maxQueueSize) throw new QueueFullError(this.#config.maxQueueSize);

    const taskId = this.#nextId();
    const now = this.#config.clock.now();
    const context = initialTaskContext({
      taskId,
      name: name ?? handler ?? ((fn as TaskFunction).name || 'task'),
      timeout,
      metadata: copiedMetadata,
      createdAt: now,
      work: new Execution(taskId, fn as (...a: unknown[]) => unknown, args, this.#config.clock.now, collect as Collect | undefined),
      maxAttempts: retries + 1,
      backoff,
      retryOnTimeout,
    });
    const task = BackgroundTask._create<TResult>(this.#driver.host, context, onComplete, onProgress, onChunk);
    if (this.#sync !== undefined) {
      this.#sync.track(task as BackgroundTask, {
        handler: handler ?? null,
        args: handler === undefined ? null : [...args],
        priority,
        group: group ?? null,
      });
    }
    this.#driver.enqueue(task as BackgroundTask, priority, group, 'submit');
    return task;
  }
}

// Shared, frozen defaults: a task submitted without `args` or `metadata` allocates neither, which a
// queue of 100,000 waiting tasks feels (each object a task holds is copied by every young-generation GC).
const NO_OPTIONS: SubmitOptions = Object.freeze({});
const NO_ARGS: readonly unknown[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Copies the `metadata` option at submit, so a getter or proxy trap that throws fails `submit()`
 * with a message naming the key, instead of every later `toJSON()`/`listTasks()`; and so changes
 * the caller makes afterwards do not show through.
 */
function copyMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) invalid('metadata', 'an object', metadata);
  let keys: string[];
  try {
    keys = Object.keys(metadata);
  } catch (error) {
    throw new TypeError(`Expected \`metadata\` to be a plain object, but listing its keys threw: ${messageOf(error)}`, { cause: error });
  }
  const entries: [string, unknown][] = [];
  for (const key of keys) {
    try {
      entries.push([key, (metadata as Record<string, unknown>)[key]]);
    } catch (error) {
      throw new TypeError(`Expected \`metadata.${key}\` to be a value, but reading it threw: ${messageOf(error)}`, { cause: error });
    }
  }
  // fromEntries defines own properties, so a `__proto__` key stays data.
  return Object.fromEntries(entries);
}

/** The TypeError for work a remote backend cannot carry to another process. */
function remoteNeedsName(call: string): TypeError {
  return new TypeError(
    `${call} cannot run on a remote backend: functions do not cross processes. define() a handler in the worker process (runner.define('name', fn)) and submit it by name: runner.submit('name', { args })`,
  );
}

const STATUSES: ReadonlySet<string> = new Set(Object.values(TaskStatus));

/** The `status` filter of `listTasks`: one status or a list of them, each a real one. */
function checkStatuses(status: unknown): TaskStatus[] {
  const expected = `a task status (${[...STATUSES].map((s) => `'${s}'`).join(', ')}) or an array of them`;
  const list: unknown[] = typeof status === 'string' ? [status] : Array.isArray(status) ? status : invalid('status', expected, status);
  list.forEach((entry, i) => {
    if (typeof entry !== 'string' || !STATUSES.has(entry)) invalid(list === status ? `status[${i}]` : 'status', expected, entry);
  });
  return list as TaskStatus[];
}
