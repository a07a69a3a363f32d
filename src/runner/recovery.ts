import { Execution } from '../actors/run-function.js';
import { TaskLostError } from '../errors.js';
import { initialTaskContext, stepTask } from '../machines/task-chart.js';
import type { TaskMachineContext, TaskMachineEvent } from '../machines/task-chart.js';
import type { StoredTask } from '../store/task-store.js';
import { isFinalStatus } from '../types.js';
import type { TaskFunction, TaskId, TaskStatus } from '../types.js';
import { BackgroundTask } from './background-task.js';
import type { RunnerEmitter } from './events.js';
import type { ResolvedConfig } from './options.js';
import { fromStoredError } from './store-sync.js';
import type { StoreSync, SubmitInfo } from './store-sync.js';
import type { TaskDriver } from './task-driver.js';
import type { TaskTable } from './task-table.js';

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

/** @internal What recovery works with. */
export interface RecoveryDeps {
  readonly config: ResolvedConfig;
  readonly sync: StoreSync;
  readonly table: TaskTable;
  readonly driver: TaskDriver;
  readonly emitter: RunnerEmitter;
  readonly handlers: ReadonlyMap<string, TaskFunction>;
}

/**
 * @internal
 * Reconciles the store with what a dead process left behind; see `BackgroundRunner.recover()`.
 */
export function recoverTasks(deps: RecoveryDeps): RecoverResult {
  const { config, sync, table, driver, handlers } = deps;
  const result: RecoverResult = { requeued: [], lost: [], finished: [], waiting: [] };
  const now = config.clock.now();
  for (const row of sync.recoverable()) {
    if (table.has(row.id)) continue;
    const info: SubmitInfo = { handler: row.handler, args: row.args, priority: row.priority, group: row.group };
    if (isFinalStatus(row.status)) {
      result.finished.push(restoreFinished(deps, row, row.status, restoredContext(row, null, false), info));
      continue;
    }
    if (row.cancelRequested) {
      const reason = 'cancel requested through the store while no runner held it';
      const cancelled = updatesAfter(row, { type: 'cancel', at: now, reason });
      result.finished.push(restoreFinished(deps, row, 'cancelled', cancelled, info));
      continue;
    }
    const handler = row.handler === null ? undefined : handlers.get(row.handler);
    if (row.handler !== null && config.resume === 'requeue') {
      if (handler === undefined) {
        result.waiting.push(row.id);
        continue;
      }
      const execution = new Execution(row.id, handler as (...a: unknown[]) => unknown, row.args ?? [], config.clock.now);
      const task = BackgroundTask._create(driver.host, restoredContext(row, execution, true), (t) => deliver(deps, t), undefined);
      sync.track(task, info);
      driver.enqueue(task, row.priority, row.group ?? undefined, 'restore');
      result.requeued.push(task);
      continue;
    }
    const error = new TaskLostError(row.id, row.status, row.handler === null ? 'function' : 'mark-lost');
    result.lost.push(restoreFinished(deps, row, 'lost', updatesAfter(row, { type: 'lose', at: now, error }), info));
  }
  return result;
}

/** Shows a task recovered in a final state: held until cleanup like any finished task, and delivered. */
function restoreFinished(
  deps: RecoveryDeps,
  row: StoredTask,
  status: TaskStatus,
  context: TaskMachineContext,
  info: SubmitInfo,
): BackgroundTask {
  const { driver, emitter } = deps;
  const task = BackgroundTask._create(driver.host, context, undefined, undefined);
  task._status = status;
  driver.adoptFinished(task);
  if (status === 'lost' && emitter.listens('lost')) emitter.emit('lost', { task, error: context.error! });
  if (status !== row.status || !row.delivered) deliver(deps, task);
  deps.sync.track(task, info);
  return task;
}

/** Hands a recovered task's outcome to `onRecovered` and the `'recovered'` event. */
function deliver(deps: RecoveryDeps, task: BackgroundTask): void {
  const { emitter } = deps;
  const { onRecovered } = deps.config;
  const received = onRecovered !== undefined || emitter.listens('recovered');
  if (onRecovered) emitter.call('onRecovered', task.id, () => onRecovered(task));
  if (emitter.listens('recovered')) emitter.emit('recovered', { task });
  deps.sync.setUndelivered(task.id, !received);
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
  return stepTask('pending', restoredContext(row, null, false), event)![1];
}
