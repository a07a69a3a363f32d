import { createActor } from 'xstate';
import { Execution } from '../actors/run-function.js';
import { RemoteWork } from '../backends/backend.js';
import { messageOf, NonRetryableError } from '../errors.js';
import { armedTimer, causeOf, enteredAt, stepTask, taskChart, taskTimers } from '../machines/task-chart.js';
import type { TaskMachineContext, TaskMachineEvent, TaskMachineInput } from '../machines/task-chart.js';
import { taskActorLogic, taskSnapshotOf as snapshotOf } from '../machines/task-logic.js';
import type { TaskActor } from '../machines/task-machine.js';
import { isFinalStatus } from '../types.js';
import type { TaskId, TaskStatus } from '../types.js';
import type { BackgroundTask, TaskHost } from './background-task.js';
import type { RunnerEmitter } from './events.js';
import type { IdleWaiters } from './idle-waiters.js';
import { KeepAlive } from './keep-alive.js';
import type { ResolvedConfig } from './options.js';
import type { TaskRegistry } from './registry.js';
import type { StoreSync } from './store-sync.js';
import { unref } from './supervisor-link.js';
import type { SupervisorLink, SupervisorRequests } from './supervisor-link.js';
import type { QueuedTask } from '../machines/admission-queue.js';
import type { TaskTable } from './task-table.js';

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
  /** Holds the process open while there is work to finish (see {@link TaskDriver.holdProcess}). */
  readonly #keepAlive = new KeepAlive();
  /**
   * Set by the runner when it has a backend: `task.cancel()` goes there (a remote job is removed
   * or aborted where it runs, and its state follows through `dispatch`).
   */
  cancelRemote: ((task: BackgroundTask, reason: string | undefined) => Promise<boolean>) | undefined;

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
      cancel: (task, reason) => (this.cancelRemote === undefined ? this.cancel(task, reason) : this.cancelRemote(task, reason)),
      report: (error, task) => emitter.report(error, 'listener', task.id),
      unsaved: (task) => sync?.unsaved(task) ?? false,
    };
  }

  /** Makes a new pending task known to the runner and queues it. */
  enqueue(task: BackgroundTask, priority: number, group: string | undefined, cause: 'submit' | 'restore'): void {
    // The entry exists before any listener runs: one that cancels the task withdraws this entry.
    const entry = (task._entry = new TaskEntry(task, priority, group));
    this.#table.add(task);
    this.registry?.trigger.upsert({ summary: task._summary() });
    this.#table.active += 1;
    this.#table.pending += 1;
    if (!this.#keepAlive.holding) this.holdProcess();
    this.announceCreated(task, cause);
    if (this.#emitter.listens('submitted')) this.#emitter.emit('submitted', { task });
    // The supervisor takes facts in order within a batch (submitted before withdrawn), so a task
    // cancelled by a listener above is queued and dropped in the same step.
    this.link.submitted(entry);
  }

  /**
   * Makes a new pending remote task known to the runner (its work is a {@link RemoteWork}): held
   * and counted like a queued task, but not given to the supervisor, since it takes no slot here;
   * the backend moves it with `dispatch` as its job moves.
   */
  track(task: BackgroundTask): void {
    this.#table.add(task);
    this.registry?.trigger.upsert({ summary: task._summary() });
    this.#table.active += 1;
    this.#table.pending += 1;
    if (!this.#keepAlive.holding) this.holdProcess();
    this.announceCreated(task, 'submit');
    // Announced before the job exists, so `submitted` always comes before `started`.
    if (this.#emitter.listens('submitted')) this.#emitter.emit('submitted', { task });
  }

  /**
   * Makes a task known that comes into being in a final state (found finished in a store): held
   * until cleanup like any finished task.
   */
  adoptFinished(task: BackgroundTask): void {
    this.#table.add(task);
    this.registry?.trigger.upsert({ summary: task._summary() });
    // Known to the supervisor only as finished, so cleanup removes it after `cleanupDelay`.
    this.link.tell('withdrawn', (task._entry = new TaskEntry(task, 0, undefined)));
    this.announceCreated(task, 'restore');
  }

  /** The `'transition'` from `null` of a task that came into being, in the status it holds. */
  announceCreated(task: BackgroundTask, cause: 'submit' | 'restore'): void {
    if (!this.#emitter.listens('transition')) return;
    const context = task._context;
    const to = task._status;
    this.#emitter.emit('transition', {
      task,
      from: null,
      to,
      event: cause,
      at: enteredAt(to, context),
      attempt: Math.max(1, context.attempt),
    });
  }

  /** Sends an event to a task: to its actor if it has one, else through the chart's stepper. */
  dispatch(task: BackgroundTask, event: TaskMachineEvent): void {
    if (isFinalStatus(task._status)) return; // a final state ignores everything
    // With an inspector, a task becomes an actor with its first event (admitted or cancelled), so
    // a queue of 100,000 waiting tasks is 100,000 records, not 100,000 live actors.
    if (task._actor === undefined && this.#config.inspect) this.materialize(task);
    if (task._actor) {
      task._actor.send(event);
      return;
    }
    // Nobody holds this task's context but the task (no snapshot handed out, no observer, no actor):
    // a change of state may then be written into it instead of a copy of its 21 fields.
    const next = stepTask(task._status, task._context, event, task._snapshot === undefined && task._observers === undefined);
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
    // Who carries out the new state's effects (the work, the timer), decided before any user code
    // runs: a listener or observer below that reads `task.actor` creates an actor restored into
    // the new state, which invokes nothing and arms nothing, so the driver must still do it.
    const driven = task._actor !== undefined;
    task._status = status;
    task._context = context;
    if (this.#sync !== undefined) this.#sync.touch(task);

    if (previous === status) {
      if (status !== 'running') return;
      const reported = context.progress !== previousContext.progress || context.message !== previousContext.message;
      const streamed = context.chunks !== previousContext.chunks;
      if (!reported && !streamed) return;
      this.registry?.trigger.upsert({ summary: task._summary() });
      if (reported && task._onProgress)
        this.#emitter.call('onProgress', task.id, () => task._onProgress!(context.progress, context.message, task));
      if (streamed && task._onChunk) this.#emitter.call('onChunk', task.id, () => task._onChunk!(context.chunk, task));
      if (this.#emitter.listens('progress')) {
        const { progress, message } = context;
        this.#emitter.emit('progress', streamed ? { task, progress, message, chunk: context.chunk } : { task, progress, message });
      }
      if (task._observers !== undefined) task._notify();
      return;
    }

    // Leave the old state: undo its effects.
    if (previous === 'pending') {
      this.#table.pending -= 1;
      if (!this.#keepAlive.holding) this.holdProcess(); // a paused runner's task started (a retry, say)
    }
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
      this.#emitter.emit('transition', {
        task,
        from: previous,
        to: status,
        event,
        at: enteredAt(status, context),
        attempt: Math.max(1, context.attempt),
      });
    }
    // Observers see the new state before its effects run, so a report the work makes
    // synchronously when called arrives after the `running` snapshot, as with an actor.
    if (task._observers !== undefined) task._notify();

    if (status === 'running') {
      // Announce the start before calling the work, so a sync progress report follows 'started'.
      if (this.#emitter.listens('started')) this.#emitter.emit('started', { task, attempt: context.attempt });
      if (task._status === 'running') this.#enter(task, status, context, driven);
      return;
    }

    if (status === 'retrying') {
      if (task._status === 'retrying') this.#enter(task, status, context, driven);
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
    // A remote task never held a slot here (nor an entry): the supervisor only schedules its cleanup.
    if (context.work instanceof RemoteWork) this.link.tell('withdrawn', (task._entry ??= new TaskEntry(task, 0, undefined)));
    else if (previous === 'pending') this.link.tell('withdrawn', task._entry!);
    else this.link.tell('settled', task._entry!);
    this.#table.active -= 1;
    if (this.#table.active === this.#table.pending) this.holdProcess();
    if (this.#table.active === 0) this.#idle();
  }

  /**
   * The actor-less equivalent of entering a chart state: invoke what the state invokes (the work)
   * and arm its timer, both read from the chart.
   */
  #enter(task: BackgroundTask, status: TaskStatus, context: TaskMachineContext, driven: boolean): void {
    const state = taskChart.states[status];
    const work = context.work;
    // Work that runs elsewhere (a remote backend) is not an Execution: its events arrive by `dispatch`.
    // An actor does not invoke the work either (it has no `execute` child): its events reach the
    // actor through `dispatch`.
    if (state.invoke === 'execute' && work instanceof Execution) work.attach((event) => this.dispatch(task, event), context.attempt);
    // An actor arms its own timers (delayed events on the actor system's clock).
    if (driven || task._status !== status) return;
    const timer = armedTimer(status, context);
    if (timer !== undefined) {
      const event = timer.event(context);
      task._timer = this.#schedule(timer.delay(context)!, () => this.dispatch(task, event), task);
    }
  }

  /**
   * A timer on the runner's clock for one task (its timeout or its retry), that never holds the
   * process open. If the clock's `setTimeout` throws, the task cannot wait as it should: it ends on
   * the next microtask, `failed` (a `NonRetryableError` with the clock's error as `cause`) if
   * running, `cancelled` if retrying.
   */
  #schedule(ms: number, fn: () => void, task: BackgroundTask): unknown {
    try {
      return unref(
        this.#config.clock.setTimeout(() => {
          task._timer = undefined;
          fn();
        }, ms),
      );
    } catch (cause) {
      this.#emitter.report(cause, 'clock', task.id);
      const status = task._status;
      const attempt = task._context.attempt;
      queueMicrotask(() => {
        if (task._status !== status || task._context.attempt !== attempt) return;
        const why = `the runner's clock.setTimeout threw while arming this task's ${status === 'running' ? 'timeout' : 'retry'}: ${messageOf(cause)}`;
        const at = this.#config.clock.now();
        if (status === 'running')
          this.dispatch(task, { type: 'error', error: new NonRetryableError(`Task "${task.id}" failed: ${why}`, { cause }), at });
        else this.cancel(task, why);
      });
      return undefined;
    }
  }

  /**
   * The supervisor admitted these tasks: start each, unless it ended meanwhile. They were admitted
   * as one batch, but each start runs 'started' listeners, which may pause the runner or lower its
   * concurrency: what they ask holds for every start after the call, so the rest of the batch goes
   * back to the queue, in its place.
   */
  admit(entries: QueuedTask[]): void {
    // One clock read for the batch: every task admitted together starts at the same time.
    const at = this.#config.clock.now();
    // Running before this batch, as the supervisor counts (it already counts the batch).
    const before = this.link.running - entries.length;
    for (let i = 0; i < entries.length; i += 1) {
      if (i > 0 && this.link.holdsBack(before + i)) {
        this.#giveBack(entries, i);
        return;
      }
      const entry = entries[i] as TaskEntry;
      const task = entry.task;
      if (task.status === 'pending') {
        this.dispatch(task, { type: 'start', at });
      } else {
        // Cancelled while the supervisor was admitting it: give the slot back.
        this.link.tell('settled', entry);
      }
    }
  }

  /** Returns the admissions of `entries` from `from` on to the supervisor, unstarted. */
  #giveBack(entries: readonly QueuedTask[], from: number): void {
    for (let i = from; i < entries.length; i += 1) {
      const entry = entries[i] as TaskEntry;
      if (entry.task.status === 'pending') this.link.giveBack(entry);
      else this.link.tell('settled', entry); // cancelled meanwhile: free its slot, as `admit` does
    }
  }

  /**
   * Keeps the process alive exactly while the runner has work to finish: a task `pending`,
   * `running` or `retrying`, unless the runner is paused with nothing admitted (then nothing can
   * happen until someone calls `resume()`, which only live code can do), and never after `stop()`.
   * Called where those facts change: a task queued or leaving `pending`, the last admitted task
   * finishing, `pause()`, `resume()` and `stop()`.
   */
  holdProcess(): void {
    const table = this.#table;
    const admitted = table.active - table.pending;
    this.#keepAlive.set(!this.link.closed && table.active > 0 && !(this.link.pauseRequested && admitted === 0));
  }

  /** Lets the process go for good (the runner stopped). */
  releaseProcess(): void {
    this.#keepAlive.close();
  }

  /** The supervisor's cleanup: forget finished tasks. */
  remove(entries: QueuedTask[]): void {
    for (const entry of entries) this.forget((entry as TaskEntry).task);
  }

  drainTimedOut(): void {
    for (const task of this.#table.all()) if (!task.isCompleted) this.cancel(task, 'the drain timeout passed');
  }

  /** Forgets a finished task (a no-op for an active one, or one already forgotten). */
  forget(task: BackgroundTask): boolean {
    if (!task.isCompleted || !this.#table.delete(task)) return false;
    this.registry?.trigger.remove({ taskId: task.id });
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
   * inspectors show it under the supervisor. A running task's work keeps running (its events
   * reach the actor through `dispatch`), and the timeout already armed stays armed.
   */
  materialize(task: BackgroundTask): TaskActor {
    if (task._actor) return task._actor;
    // The machine without an `execute` child (the driver attaches the work for every task, with or
    // without an actor, in `commit`), stepped by the chart: see `taskActorLogic`.
    const actor = createActor(taskActorLogic, {
      snapshot: snapshotOf(task._status, task._context),
      parent: this.link.actor,
      id: task.id,
      // Unused (the snapshot is given); xstate's types ask for the machine's input all the same.
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
 * @internal
 * A task's entry in the supervisor's queue and cleanup list, kept for the task's life: the
 * supervisor hands it back in `admit` and `remove`, and it leads to the task without a lookup by
 * id. The task is held privately, so an inspector that serialises the supervisor's events sees the
 * entry's own fields only.
 */
class TaskEntry implements QueuedTask {
  declare readonly taskId: TaskId;
  declare readonly priority: number;
  declare readonly group: string | undefined;
  declare seq: number;
  declare state: QueuedTask['state'];
  declare finishedAt: number | undefined;
  readonly #task: BackgroundTask;

  constructor(task: BackgroundTask, priority: number, group: string | undefined) {
    this.taskId = task.id;
    this.priority = priority;
    this.group = group;
    this.seq = 0;
    this.state = undefined;
    this.finishedAt = undefined;
    this.#task = task;
  }

  get task(): BackgroundTask {
    return this.#task;
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
