import type { ActorLogic, ActorScope, ActorSystem, AnyActorRef, EventObject, Snapshot } from 'xstate';
import { describe, RunnerError } from '../errors.js';
import { isFinalStatus } from '../types.js';
import type { TaskId } from '../types.js';
import { BackgroundRunner } from './background-runner.js';
import type { BackgroundTask } from './background-task.js';
import { invalid } from '../validate.js';
import type { BackgroundConfig, SubmitOptions } from './options.js';
import type { RunnerEventName, RunnerEvents } from './events.js';
import type { TaskRegistryContext, TaskSummary } from './registry.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyActorSystem = ActorSystem<any>;

/** Work the runner actor can run: called as `fn(...args, context)`, like `runner.submit`'s `fn`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RunnerLogicWork = (...args: any[]) => unknown;

/**
 * The submit options a `task.submit` event may carry: those of `runner.submit` except the
 * callbacks, whose job the output events do.
 */
export type RunnerLogicSubmitOptions = Omit<SubmitOptions, 'onComplete' | 'onProgress'>;

/**
 * Asks the runner actor to run work: either `fn` itself, or the function registered under
 * `handler` in the actor's input `handlers`. `requestId` is yours: every output event about the
 * task carries it, so a machine can tell which submit a task id belongs to.
 */
export interface RunnerSubmitEvent extends RunnerLogicSubmitOptions {
  type: 'task.submit';
  /** The work. Give this or `handler`, not both. */
  fn?: RunnerLogicWork;
  /** The name of a function in the input's `handlers`. Give this or `fn`, not both. */
  handler?: string;
  /** Your correlation id, echoed in every output event about this task. */
  requestId?: string;
}

/** Asks the runner actor to cancel a pending, running or retrying task. Unknown or finished tasks are left alone. */
export interface RunnerCancelEvent {
  type: 'task.cancel';
  taskId: TaskId;
  /** Ends up in the task's `TaskCancelledError` message. */
  reason?: string;
}

/**
 * The events the runner actor accepts: `task.submit`, `task.cancel`, `runner.pause` (admit no new
 * tasks; running ones go on) and `runner.resume`. Other event types are ignored, as a machine
 * ignores events it has no transition for.
 */
export type RunnerLogicEvent = RunnerSubmitEvent | RunnerCancelEvent | { type: 'runner.pause' } | { type: 'runner.resume' };

interface TaskEventBase {
  taskId: TaskId;
  /** The task's name (the handler's name for `handler` submits, unless `name` was given). */
  name: string;
  /** The `requestId` of the `task.submit` that created the task, if it had one. */
  requestId: string | undefined;
}

/** A submit was accepted: the task exists and is `pending`. */
export interface TaskSubmittedEvent extends TaskEventBase {
  type: 'task.submitted';
}
/** The task's work is being called (`attempt` 1, then once per retry). */
export interface TaskStartedEvent extends TaskEventBase {
  type: 'task.started';
  attempt: number;
}
/** The running work reported progress. */
export interface TaskProgressEvent extends TaskEventBase {
  type: 'task.progress';
  progress: number;
  message: string | undefined;
}
/** An attempt failed; the next one starts after `delayMs`. */
export interface TaskRetryingEvent extends TaskEventBase {
  type: 'task.retrying';
  error: Error;
  attempt: number;
  delayMs: number;
}
/** The work returned or resolved `result`. */
export interface TaskCompletedEvent extends TaskEventBase {
  type: 'task.completed';
  result: unknown;
}
/**
 * The work threw or rejected after its last attempt, or timed out (`TaskTimeoutError`); or the
 * task was lost (`TaskLostError` from `runner.recover()`, a `RunnerError` for a restored snapshot).
 */
export interface TaskFailedEvent extends TaskEventBase {
  type: 'task.failed';
  error: Error;
}
/** The task was cancelled; `error` is its `TaskCancelledError`. */
export interface TaskCancelledEvent extends TaskEventBase {
  type: 'task.cancelled';
  error: Error;
}
/**
 * A `task.submit` (or `task.cancel`) was refused and no task exists for it: an unknown `handler`,
 * a non-function `fn`, a bad option (`TypeError`/`RangeError` naming it), a full queue
 * (`QueueFullError`) or a stopped runner (`RunnerStoppedError`).
 */
export interface TaskRejectedEvent {
  type: 'task.rejected';
  requestId: string | undefined;
  /** The refused event's `handler`, if it named one. */
  handler: string | undefined;
  error: Error;
}

/**
 * The events the runner actor sends to its parent (and emits, for `actor.on(…)`), one per task
 * state entered, plus `task.rejected` for refused commands. Add them to your machine's events.
 *
 * @example
 * ```ts
 * setup({ types: { events: {} as RunnerLogicEmitted | { type: 'go' } }, actors: { runner: backgroundRunnerLogic } })
 * ```
 */
export type RunnerLogicEmitted =
  | TaskSubmittedEvent
  | TaskStartedEvent
  | TaskProgressEvent
  | TaskRetryingEvent
  | TaskCompletedEvent
  | TaskFailedEvent
  | TaskCancelledEvent
  | TaskRejectedEvent;

/** Input of {@link backgroundRunnerLogic}: the runner's options plus named work. */
export interface RunnerLogicInput extends BackgroundConfig {
  /**
   * Work by name, for `{ type: 'task.submit', handler: 'research', args: ['AI'] }`: events then
   * carry only data, which the inspector shows and a log can replay.
   */
  handlers?: Readonly<Record<string, RunnerLogicWork>>;
}

/**
 * The runner actor's context: the runner's registry (`tasks`, `counts`, `version`; see
 * {@link TaskRegistryContext}) and the runner itself, for task handles (`runner.getTask(id)?.actor`).
 */
export interface RunnerLogicContext extends TaskRegistryContext {
  readonly runner: BackgroundRunner;
}

/** The runner actor's snapshot: `status` is `'active'` until the actor stops; `context` as above. */
export type RunnerLogicSnapshot = Snapshot<undefined> & { context: RunnerLogicContext };

/** The type of {@link backgroundRunnerLogic}. */
export type RunnerLogic = ActorLogic<
  RunnerLogicSnapshot,
  RunnerLogicEvent,
  RunnerLogicInput | undefined,
  AnyActorSystem,
  RunnerLogicEmitted
>;

/** What the runner's listeners and callbacks post to the actor itself; never seen by users. */
interface UpdateEvent {
  type: 'tasklane.runner.update';
  out: RunnerLogicEmitted | undefined;
}
const UPDATE = 'tasklane.runner.update';

type Scope = ActorScope<RunnerLogicSnapshot, RunnerLogicEvent, AnyActorSystem, RunnerLogicEmitted>;

interface Instance {
  runner: BackgroundRunner;
  handlers: Readonly<Record<string, RunnerLogicWork>>;
  /** Task id → the `requestId` of the submit that made it (until the task is final). */
  requests: Map<TaskId, string | undefined>;
  /** Set while `runner.submit` runs, so the synchronous `submitted` event finds its request. */
  submitting: { requestId: string | undefined } | undefined;
  stopped: boolean;
  cleanups: (() => void)[];
  /** Unfinished tasks of a restored snapshot, reported as failed on start. */
  lost: PersistedRunnerSnapshot['tasks'];
}

// One runner per actor, like xstate's own callback logic keeps its per-actor state.
const instances = new WeakMap<AnyActorRef, Instance>();
const byRunner = new WeakMap<BackgroundRunner, Instance>();

/**
 * Actor logic that runs a {@link BackgroundRunner} inside an XState system, so an agent machine can
 * `invoke` or `spawn` it and talk to it in events.
 *
 * In: {@link RunnerLogicEvent} (`task.submit` with `fn` or a `handler` name, `task.cancel`,
 * `runner.pause`, `runner.resume`). Out, sent to the parent and emitted: {@link RunnerLogicEmitted}
 * (`task.submitted`, `task.started`, `task.progress`, `task.retrying`, `task.completed`,
 * `task.failed`, `task.cancelled`, each with `taskId`, `name` and your `requestId`; and
 * `task.rejected` for a submit it refused — an unknown handler, a non-function `fn`, a bad
 * option, a full queue). A refused event never throws inside the actor system.
 *
 * The snapshot's `context` is the runner's registry (`tasks`, `counts`, `version`) plus `runner`,
 * and changes whenever a task does. When the actor stops (the invoking state is left, or the
 * spawning machine stops it), the runner stops: every pending and running task is cancelled (its
 * signal aborts) and no more events are sent. Bad input (an option, `handlers`) puts the actor in
 * `error` at creation, which reaches the parent as `xstate.error.actor.<id>` (`onError`).
 *
 * With a `store`, call `snapshot.context.runner.recover()` once the actor runs: re-queued tasks
 * are reported from `task.submitted` on, tasks that end `lost` as `task.failed` (a `TaskLostError`),
 * and every recovered task shows in the snapshot.
 *
 * A persisted snapshot holds the options and task summaries. Restored, it makes a new runner and,
 * on start, sends `task.failed` (a `RunnerError` saying the task was lost) for every task that had
 * not finished: that work lived in memory.
 *
 * @example
 * ```ts
 * const agent = setup({
 *   types: { events: {} as RunnerLogicEmitted },
 *   actors: { runner: backgroundRunnerLogic },
 * }).createMachine({
 *   invoke: { id: 'runner', src: 'runner', input: { maxConcurrentTasks: 2, handlers: { research } } },
 *   entry: sendTo('runner', { type: 'task.submit', handler: 'research', args: ['AI'], requestId: 'ai' }),
 *   on: { 'task.completed': { actions: ({ event }) => console.log(event.requestId, event.result) } },
 * });
 * ```
 */
export const backgroundRunnerLogic: RunnerLogic = {
  config: 'tasklane.backgroundRunner',
  getInitialSnapshot(scope, input) {
    return create(scope, input);
  },
  start(_snapshot, scope) {
    const instance = instances.get(scope.self);
    if (!instance) return;
    listen(instance, scope);
    for (const task of instance.lost) {
      const error = new RunnerError(
        `Task "${task.id}" (${task.name}) was lost: the machine was restored from a persisted snapshot, and the task's work lived in the memory of the runner that persisted it. Submit it again.`,
      );
      post(instance, scope, { type: 'task.failed', taskId: task.id, name: task.name, requestId: task.requestId, error });
    }
    instance.lost = [];
  },
  transition(snapshot, event, scope) {
    const instance = instances.get(scope.self);
    if ((event as EventObject).type === 'xstate.stop') {
      if (!instance) return { ...snapshot, status: 'stopped', error: undefined, output: undefined };
      instance.stopped = true;
      for (const cleanup of instance.cleanups) cleanup();
      // Cancels every task synchronously (no drain): the state that wanted them is gone.
      void instance.runner.stop();
      instances.delete(scope.self);
      return { status: 'stopped', output: undefined, error: undefined, context: contextOf(instance.runner) };
    }
    if (!instance || snapshot.status !== 'active') return snapshot;
    const internal = event as RunnerLogicEvent | UpdateEvent;
    switch (internal.type) {
      case UPDATE: {
        const { out } = internal;
        if (out) scope.defer(() => deliver(out, scope));
        return refresh(snapshot, instance.runner);
      }
      case 'task.submit':
        submit(instance, internal, scope);
        return snapshot;
      case 'task.cancel':
        if (typeof internal.taskId !== 'string') {
          const error = new TypeError(`Expected \`taskId\` to be a task id (a string), got ${describe(internal.taskId)}`);
          post(instance, scope, { type: 'task.rejected', requestId: undefined, handler: undefined, error });
        } else if (internal.reason !== undefined && typeof internal.reason !== 'string') {
          const error = new TypeError(`Expected \`reason\` to be a string (or undefined), got ${describe(internal.reason)}`);
          post(instance, scope, { type: 'task.rejected', requestId: undefined, handler: undefined, error });
        } else {
          void instance.runner.cancelTask(internal.taskId, internal.reason);
        }
        return snapshot;
      case 'runner.pause':
        instance.runner.pause();
        return snapshot;
      case 'runner.resume':
        instance.runner.resume();
        return snapshot;
      default:
        return snapshot;
    }
  },
  getPersistedSnapshot(snapshot) {
    // Plain data only: the runner's options, and each task as it was (with its request).
    const { runner, tasks } = snapshot.context;
    const instance = byRunner.get(runner);
    const { maxQueueSize, ...options } = runner.config;
    const persisted: PersistedRunnerSnapshot = {
      status: snapshot.status,
      output: undefined,
      error: undefined,
      options: Number.isFinite(maxQueueSize) ? { ...options, maxQueueSize } : options,
      // Functions survive an in-memory round trip and vanish in JSON; named submits then say so (task.rejected).
      handlers: instance?.handlers ?? {},
      tasks: [...tasks.values()].map((summary) => ({ ...summary, requestId: instance?.requests.get(summary.id) })),
    };
    return persisted as unknown as Snapshot<unknown>;
  },
  restoreSnapshot(persisted, scope) {
    // The work itself lived in memory and is gone. Start a new runner with the same options, and
    // tell the parent (on start) that each unfinished task failed, so no machine waits for it forever.
    const { options = {}, handlers = {}, tasks = [] } = persisted as unknown as Partial<PersistedRunnerSnapshot>;
    const lost = tasks.filter((task) => !isFinalStatus(task.status));
    return create(scope, { ...options, handlers: pickFunctions(handlers) }, lost);
  },
};

/** What `getPersistedSnapshot` returns: JSON-safe except `handlers`. */
interface PersistedRunnerSnapshot {
  status: RunnerLogicSnapshot['status'];
  output: undefined;
  error: undefined;
  options: BackgroundConfig;
  handlers: Readonly<Record<string, RunnerLogicWork>>;
  tasks: (TaskSummary & { requestId: string | undefined })[];
}

function create(scope: Scope, input: RunnerLogicInput | undefined, lost: PersistedRunnerSnapshot['tasks'] = []): RunnerLogicSnapshot {
  const { handlers = {}, ...options } = input ?? {};
  if (handlers === null || typeof handlers !== 'object') invalid('handlers', 'an object of functions', handlers);
  for (const [name, fn] of Object.entries(handlers)) {
    if (typeof fn !== 'function') invalid(`handlers.${name}`, 'a function', fn);
  }
  // Throws TypeError/RangeError for a bad option: xstate turns that into an `error` snapshot.
  const runner = new BackgroundRunner(options);
  for (const [name, fn] of Object.entries(handlers)) runner.define(name, fn);
  const instance: Instance = { runner, handlers, requests: new Map(), submitting: undefined, stopped: false, cleanups: [], lost };
  instances.set(scope.self, instance);
  byRunner.set(runner, instance);
  return { status: 'active', output: undefined, error: undefined, context: contextOf(runner) };
}

function pickFunctions(handlers: unknown): Record<string, RunnerLogicWork> {
  const picked: Record<string, RunnerLogicWork> = {};
  if (handlers && typeof handlers === 'object') {
    for (const [name, fn] of Object.entries(handlers)) if (typeof fn === 'function') picked[name] = fn as RunnerLogicWork;
  }
  return picked;
}

function contextOf(runner: BackgroundRunner): RunnerLogicContext {
  const { tasks, counts, version } = runner.registry.getSnapshot().context;
  return { runner, tasks, counts, version };
}

/** A new snapshot when the registry changed since `snapshot`, else `snapshot` itself (observers are not woken). */
function refresh(snapshot: RunnerLogicSnapshot, runner: BackgroundRunner): RunnerLogicSnapshot {
  const context = contextOf(runner);
  if (context.version === snapshot.context.version) return snapshot;
  return { ...snapshot, context };
}

/** Hands an output event to the parent (as xstate's own `sendBack` does) and to `actor.on(…)` listeners. */
function deliver(out: RunnerLogicEmitted, scope: Scope): void {
  const { self, system } = scope;
  const parent = self._parent;
  if (parent) {
    // `_relay` is how xstate's fromCallback sends back: the inspector then shows this actor as the source.
    const relay = (system as { _relay?: (source: AnyActorRef, target: AnyActorRef, event: EventObject) => void })._relay;
    if (relay) relay(self, parent, out);
    else parent.send(out);
  }
  scope.emit(out);
}

/**
 * Queues an output event through the actor's own mailbox, so the snapshot that shows the change is
 * stored before the parent hears about it, whatever the actor was doing when the runner spoke.
 */
function post(instance: Instance, scope: Scope, out: RunnerLogicEmitted | undefined): void {
  if (instance.stopped) return;
  (scope.self.send as unknown as (event: UpdateEvent) => void)({ type: UPDATE, out });
}

function listen(instance: Instance, scope: Scope): void {
  const { runner, requests } = instance;
  const on = <E extends RunnerEventName>(event: E, listener: RunnerEvents[E]): void => {
    runner.on(event, listener);
    instance.cleanups.push(() => runner.off(event, listener));
  };
  const about = (task: BackgroundTask) => ({ taskId: task.id, name: task.name, requestId: requests.get(task.id) });
  const final = (task: BackgroundTask) => {
    const fields = about(task);
    requests.delete(task.id);
    return fields;
  };
  on('submitted', ({ task }) => {
    // Tasks submitted on `context.runner` directly have no request.
    requests.set(task.id, instance.submitting?.requestId);
    post(instance, scope, { type: 'task.submitted', ...about(task) });
  });
  on('started', ({ task, attempt }) => post(instance, scope, { type: 'task.started', ...about(task), attempt }));
  on('progress', ({ task, progress, message }) => post(instance, scope, { type: 'task.progress', ...about(task), progress, message }));
  on('retrying', ({ task, error, attempt, delayMs }) =>
    post(instance, scope, { type: 'task.retrying', ...about(task), error, attempt, delayMs }),
  );
  on('completed', ({ task }) => post(instance, scope, { type: 'task.completed', ...final(task), result: task.result }));
  on('failed', ({ task, error }) => post(instance, scope, { type: 'task.failed', ...final(task), error }));
  on('cancelled', ({ task }) => post(instance, scope, { type: 'task.cancelled', ...final(task), error: task.error! }));
  // `runner.recover()` ends a task `lost`: like a task lost by a restored snapshot, it is reported as failed.
  on('lost', ({ task, error }) => post(instance, scope, { type: 'task.failed', ...final(task), error }));

  // Cleanup (autoCleanup, clearCompleted) removes tasks, and `runner.recover()` restores finished
  // ones, without a runner event: refresh on those too. A submit through this actor posts its own
  // `task.submitted` right after the registry grows, so that growth needs no extra update.
  let size = runner.registry.getSnapshot().context.tasks.size;
  const subscription = runner.registry.subscribe((registrySnapshot) => {
    const next = registrySnapshot.context.tasks.size;
    if (next < size || (next > size && instance.submitting === undefined)) post(instance, scope, undefined);
    size = next;
  });
  instance.cleanups.push(() => subscription.unsubscribe());
}

function submit(instance: Instance, event: RunnerSubmitEvent, scope: Scope): void {
  const { fn, handler, requestId, type: _type, ...options } = event;
  const reject = (error: Error) => post(instance, scope, { type: 'task.rejected', requestId, handler, error });
  let work: unknown = fn;
  let name = options.name;
  if (handler !== undefined) {
    if (fn !== undefined) {
      reject(new TypeError('Expected one of `fn` or `handler` in a task.submit event, got both'));
      return;
    }
    if (typeof handler !== 'string') {
      reject(new TypeError(`Expected \`handler\` to be the name of a handler (a string), got ${describe(handler)}`));
      return;
    }
    // The runner resolves the name among its defined handlers (the input's `handlers`), checks that
    // the args are JSON data, and refuses an unknown name with UnknownHandlerError.
    work = handler;
    name ??= handler;
  } else if (fn === undefined) {
    reject(new TypeError('Expected a task.submit event to carry `fn` (a function) or `handler` (a name), got neither'));
    return;
  }
  const submitOptions: SubmitOptions = { ...options };
  if (name !== undefined) submitOptions.name = name;
  instance.submitting = { requestId };
  let promise: Promise<unknown>;
  try {
    promise =
      typeof work === 'string'
        ? instance.runner.submit(work, submitOptions)
        : instance.runner.submit(work as RunnerLogicWork, submitOptions);
  } finally {
    instance.submitting = undefined;
  }
  // A refused submit rejects (bad fn or option, full queue, stopped runner): report it, never throw.
  promise.then(undefined, (error: unknown) => reject(error instanceof Error ? error : new TypeError(String(error))));
}
