import { createActor } from 'xstate';
import { Execution, runFunctionLogic } from '../actors/run-function.js';
import { causeOf, enteredAt, stepTask, taskChart, taskTimers } from '../machines/task-chart.js';
import type { TaskMachineContext, TaskMachineEvent, TaskMachineInput } from '../machines/task-chart.js';
import { taskMachine } from '../machines/task-machine.js';
import type { TaskActor } from '../machines/task-machine.js';
import { isFinalStatus } from '../types.js';
import type { TaskId, TaskStatus } from '../types.js';
import type { BackgroundTask, TaskHost } from './background-task.js';
import type { RunnerEmitter } from './events.js';
import type { IdleWaiters } from './idle-waiters.js';
import type { ResolvedConfig } from './options.js';
import type { TaskRegistry } from './registry.js';
import type { StoreSync } from './store-sync.js';
import { unref } from './supervisor-link.js';
import type { SupervisorLink, SupervisorRequests } from './supervisor-link.js';
import type { TaskTable } from './task-table.js';
import { createSnapshotSource } from './task-snapshot.js';

/** The task machine with its effects: one for every runner. */
const taskLogic = taskMachine.provide({ actors: { execute: runFunctionLogic } });
/** Snapshots of `taskLogic` for tasks without an actor. */
const snapshotOf = createSnapshotSource(taskLogic);

/**
 * @internal
 * Moves tasks through the chart and carries out what each step means. A task is a record stepped
 * through {@link stepTask} until someone reads `task.actor` (or an inspector is attached); then it
 * is a real `taskMachine` actor in the same state, and its snapshots come back through
 * {@link TaskDriver.commit}. Either way `commit` is the one place a task's new state is stored and
 * turned into effects: timers and the work for actor-less tasks, the table's counts, callbacks,
 * waiters, observers, the `'transition'` event and the events named after states, the registry, the
 * store, and telling the supervisor.
 *
 * Seam for remote backends: a task whose work runs elsewhere is held in the same table and moved
 * by `dispatch(task, event)` with the events the backend delivers (`start`, `progress`, `done`,
 * `error`, `timeout`, `cancel`, `lose`); its `context.work` is not an `Execution`, and entering
 * `running` then invokes nothing here (see `#enter`).
 */
export class TaskDriver implements SupervisorRequests {
  readonly #config: ResolvedConfig;
  readonly #emitter: RunnerEmitter;
  readonly #table: TaskTable;
  readonly #idleWaiters: IdleWaiters;
  readonly #sync: StoreSync | undefined;
  /** Set by the runner right after both exist (the link forwards the supervisor's requests here). */
  link!: SupervisorLink;
  /** The registry store, once someone asked for it. */
  registry: TaskRegistry | undefined;
  /** What task handles call back into. */
  readonly host: TaskHost;

  constructor(config: ResolvedConfig, emitter: RunnerEmitter, table: TaskTable, idleWaiters: IdleWaiters, sync: StoreSync | undefined) {
    this.#config = config;
    this.#emitter = emitter;
    this.#table = table;
    this.#idleWaiters = idleWaiters;
    this.#sync = sync;
    this.host = {
      clock: config.clock,
      materialize: (task) => this.materialize(task),
      snapshot: (task) => snapshotOf(task._status, task._context),
      cancel: (task, reason) => this.cancel(task, reason),
      report: (error, task) => emitter.report(error, 'listener', task.id),
      unsaved: (task) => sync?.unsaved(task) ?? false,
    };
  }

  /** Makes a new pending task known to the runner and queues it. */
  enqueue(task: BackgroundTask, priority: number, group: string | undefined, cause: 'submit' | 'restore'): void {
    this.#table.add(task);
    if (this.#config.inspect) this.materialize(task);
    this.registry?.trigger.upsert({ summary: task._summary() });
    this.#table.active += 1;
    this.#table.pending += 1;
    this.announceCreated(task, cause);
    if (this.#emitter.listens('submitted')) this.#emitter.emit('submitted', { task });
    this.link.submitted({ taskId: task.id, priority, group, seq: 0 });
  }

  /**
   * Makes a task known that comes into being in a final state (found finished in a store): held
   * until cleanup like any finished task.
   */
  adoptFinished(task: BackgroundTask): void {
    this.#table.add(task);
    this.registry?.trigger.upsert({ summary: task._summary() });
    // Known to the supervisor only as finished, so cleanup removes it after `cleanupDelay`.
    this.link.tell('withdrawn', task.id);
    this.announceCreated(task, 'restore');
  }

  /** The `'transition'` from `null` of a task that came into being, in the status it holds. */
  announceCreated(task: BackgroundTask, cause: 'submit' | 'restore'): void {
    if (!this.#emitter.listens('transition')) return;
    const context = task._context;
    const to = task._status;
    this.#emitter.emit('transition', { task, from: null, to, event: cause, at: enteredAt(to, context), attempt: Math.max(1, context.attempt) });
  }

  /** Sends an event to a task: to its actor if it has one, else through the chart's stepper. */
  dispatch(task: BackgroundTask, event: TaskMachineEvent): void {
    if (isFinalStatus(task._status)) return; // a final state ignores everything
    if (task._actor) {
      task._actor.send(event);
      return;
    }
    const next = stepTask(task._status, task._context, event);
    if (next) this.commit(task, next[0], next[1], event.type);
  }

  /**
   * Records a task's new state (from the compact transition or the actor's snapshot) and carries
   * out what follows: effects for actor-less tasks, callbacks, waiters, events, the registry, and
   * telling the supervisor about a finished task.
   */
  commit(task: BackgroundTask, status: TaskStatus, context: TaskMachineContext, cause?: string): void {
    const previous = task._status;
    const previousContext = task._context;
    if (previous === status && previousContext === context) return;
    task._status = status;
    task._context = context;
    if (this.#sync !== undefined) this.#sync.touch(task);

    if (previous === status) {
      if (status !== 'running') return;
      const reported = context.progress !== previousContext.progress || context.message !== previousContext.message;
      const streamed = context.chunks !== previousContext.chunks;
      if (!reported && !streamed) return;
      this.registry?.trigger.upsert({ summary: task._summary() });
      if (reported && task._onProgress) this.#emitter.call('onProgress', task.id, () => task._onProgress!(context.progress, context.message, task));
      if (streamed && task._onChunk) this.#emitter.call('onChunk', task.id, () => task._onChunk!(context.chunk, task));
      if (this.#emitter.listens('progress')) {
        const { progress, message } = context;
        this.#emitter.emit('progress', streamed ? { task, progress, message, chunk: context.chunk } : { task, progress, message });
      }
      if (task._observers !== undefined) task._notify();
      return;
    }

    // Leave the old state: undo its effects.
    if (previous === 'pending') this.#table.pending -= 1;
    if (task._timer !== undefined) {
      this.#config.clock.clearTimeout(task._timer);
      task._timer = undefined;
    }
    if (previous === 'running') {
      // Abort with the task's own error, so `signal.reason` is the TaskCancelledError/TaskTimeoutError.
      const work = context.work;
      if (work instanceof Execution) work.abort(context.error);
    }
    this.registry?.trigger.upsert({ summary: task._summary() });
    if (this.#emitter.listens('transition')) {
      // An actor's snapshot does not say which event produced it: read that from the chart.
      const event = cause ?? causeOf(previous, status, context);
      this.#emitter.emit('transition', { task, from: previous, to: status, event, at: enteredAt(status, context), attempt: Math.max(1, context.attempt) });
    }
    // Observers see the new state before its effects run, so a report the work makes
    // synchronously when called arrives after the `running` snapshot, as with an actor.
    if (task._observers !== undefined) task._notify();

    if (status === 'running') {
      // Announce the start before calling the work, so a sync progress report follows 'started'.
      if (this.#emitter.listens('started')) this.#emitter.emit('started', { task, attempt: context.attempt });
      if (!task._actor && task._status === 'running') this.#enter(task, status, context);
      return;
    }

    if (status === 'retrying') {
      if (!task._actor) this.#enter(task, status, context);
      this.#emitter.emit('retrying', { task, error: context.error!, attempt: context.attempt, delayMs: taskTimers.retry.delay(context) });
      return;
    }

    if (!isFinalStatus(status)) return;
    // With a store, `wait()` settles once the final state is written: StoreSync#flush settles the
    // waiters after the write (or its failure), so a script may exit as soon as `wait()` returns.
    if (this.#sync === undefined) task._settleWaiters();
    if (task._onComplete) this.#emitter.call('onComplete', task.id, () => task._onComplete!(task));
    if (this.#emitter.listens(status)) {
      if (status === 'completed') this.#emitter.emit('completed', { task });
      else if (status === 'failed') this.#emitter.emit('failed', { task, error: context.error! });
      else if (status === 'lost') this.#emitter.emit('lost', { task, error: context.error! });
      else this.#emitter.emit('cancelled', { task });
    }
    if (previous === 'pending') this.link.tell('withdrawn', task.id);
    else this.link.tell('settled', task.id);
    this.#table.active -= 1;
    if (this.#table.active === 0) this.#idle();
  }

  /**
   * The actor-less equivalent of entering a chart state: invoke what the state invokes (the work)
   * and arm its timer, both read from the chart.
   */
  #enter(task: BackgroundTask, status: TaskStatus, context: TaskMachineContext): void {
    const state = taskChart.states[status];
    const work = context.work;
    // Work that runs elsewhere (a remote backend) is not an Execution: its events arrive by `dispatch`.
    if (state.invoke === 'execute' && work instanceof Execution) work.attach((event) => this.dispatch(task, event), context.attempt);
    if (state.after === undefined || task._status !== status) return;
    const timer = taskTimers[state.after];
    const delay = timer.delay(context);
    if (delay !== undefined) {
      const event = timer.event(context);
      task._timer = this.#schedule(delay, () => this.dispatch(task, event), task);
    }
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

  /** The supervisor admitted a task: start it, unless it ended meanwhile. */
  admit(taskIds: TaskId[]): void {
    // One clock read for the batch: every task admitted together starts at the same time.
    const at = this.#config.clock.now();
    for (const taskId of taskIds) {
      const task = this.#table.get(taskId);
      if (task?.status === 'pending') {
        this.dispatch(task, { type: 'start', at });
      } else {
        // Cancelled while the supervisor was admitting it: give the slot back.
        this.link.tell('settled', taskId);
      }
    }
  }

  /** The supervisor's cleanup: forget finished tasks. */
  remove(taskIds: TaskId[]): void {
    for (const taskId of taskIds) this.forget(taskId);
  }

  drainTimedOut(): void {
    for (const task of this.#table.all()) if (!task.isCompleted) this.cancel(task, 'the drain timeout passed');
  }

  /** Forgets a finished task (a no-op for an active one). */
  forget(taskId: TaskId): boolean {
    const task = this.#table.get(taskId);
    if (!task?.isCompleted) return false;
    this.#table.delete(taskId);
    this.registry?.trigger.remove({ taskId });
    // A task actor in a final state has already stopped and left the actor system by itself.
    return true;
  }

  cancel(task: BackgroundTask, reason: string | undefined): boolean {
    if (task.isCompleted) return false;
    this.dispatch(task, { type: 'cancel', at: this.#config.clock.now(), reason });
    return task.status === 'cancelled';
  }

  /** Cancels every pending task, then every active one; returns how many it cancelled. */
  cancelEverything(reason: string | undefined): number {
    let cancelled = 0;
    // Pending first, so no slot freed by a cancel admits a task that is about to be cancelled.
    for (const task of this.#table.pendingTasks()) if (this.cancel(task, reason)) cancelled += 1;
    for (const task of this.#table.all()) if (!task.isCompleted && this.cancel(task, reason)) cancelled += 1;
    return cancelled;
  }

  #idle(): void {
    this.#idleWaiters.release();
    this.#emitter.emit('idle', {});
  }

  /**
   * Gives a task its actor: created in the task's current state with the supervisor as parent, so
   * inspectors show it under the supervisor. A running task's work keeps running: the restored
   * `execute` child attaches to it, and the timeout already armed stays armed.
   */
  materialize(task: BackgroundTask): TaskActor {
    if (task._actor) return task._actor;
    const snapshot = taskLogic.resolveState({ value: task._status, context: task._context });
    const actor = createActor(taskLogic, {
      snapshot,
      parent: this.link.actor,
      id: task.id,
      input: task._context as TaskMachineInput,
    });
    task._actor = actor;
    actor.subscribe({
      next: (snap) => {
        // A finished actor tells its parent `xstate.done.actor.<id>`: a macrostep of the
        // supervisor per task for an event it has no transition for, and an entry per task id in
        // xstate's per-event-type caches of the supervisor machine that every runner shares (a
        // leak). The parent link is cut for that relay only (it follows this call synchronously)
        // and restored after, so inspectors still show the task under the supervisor.
        if (snap.status === 'done') detachParentOnce(actor);
        this.commit(task, snap.value as TaskStatus, snap.context);
      },
      error: (error) => this.#emitter.report(error, 'listener', task.id),
    });
    actor.start();
    return actor;
  }

}

/**
 * Cuts a finishing actor's parent link until the current synchronous step is over: xstate relays
 * `xstate.done.actor.<id>` to `_parent` right after notifying observers of the done snapshot.
 */
function detachParentOnce(actor: TaskActor): void {
  const ref = actor as unknown as { _parent: unknown };
  const parent = ref._parent;
  if (parent === undefined) return;
  ref._parent = undefined;
  queueMicrotask(() => {
    ref._parent = parent;
  });
}
