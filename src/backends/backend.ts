/**
 * The seam between a `BackgroundRunner` and a place where its tasks run that is not this process
 * (a distributed queue). The runner imports only this file: a backend package (`tasklane/bullmq`)
 * implements it, and the core never loads the backend's dependencies.
 *
 * A remote task is the same task chart as a local one with a different `execute`: the runner keeps
 * it in its task table in `pending` and the backend drives it with the chart's own events (`start`,
 * `progress`, `done`, `error`, `retry`, `cancel`, `lose`) as the remote job moves.
 */
import type { Backoff, TaskMachineEvent } from '../machines/task-machine.js';
import type { TaskFunction, TaskId, TaskStatus } from '../types.js';
import type { RateLimit } from '../machines/rate-window.js';

/** What the runner hands its backend when it is created. */
export interface BackendHost {
  /**
   * Applies a chart event to a task the runner holds, through the same transition a local task
   * takes. Unknown ids and events a state ignores are ignored.
   */
  dispatch(taskId: TaskId, event: TaskMachineEvent): void;
  /** The task's status and its count of finished attempts, or `undefined` when the runner does not hold it. */
  peek(taskId: TaskId): { readonly status: TaskStatus; readonly failedAttempts: number } | undefined;
  /** The ids of the tasks the runner holds that are not final (for reconciliation). */
  activeIds(): TaskId[];
  /** The handler defined under `name`, if any. */
  handler(name: string): TaskFunction | undefined;
  /** The runner's clock, in epoch ms. */
  now(): number;
  /** How many handlers this process runs at once (`maxConcurrentTasks`). */
  readonly concurrency: number;
  /** The runner's `rateLimit`, to be applied across every process. */
  readonly rateLimit: RateLimit | undefined;
  /** Reports a failure no caller awaits (a lost connection, a listener that threw). */
  report(error: unknown): void;
}

/** A task as the runner submits it to a backend: everything a worker in another process needs. */
export interface RemoteSubmission {
  readonly taskId: TaskId;
  /** The handler's name, as given to `define()`. */
  readonly handler: string;
  /** JSON data, checked by the runner. */
  readonly args: readonly unknown[];
  readonly name: string;
  readonly timeout: number | undefined;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly retryOnTimeout: boolean;
  /** tasklane's priority: higher first, 0 by default. */
  readonly priority: number;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** One runner's live link to a backend, made by {@link Backend.connect}. */
export interface BackendSession {
  /** Queues the task remotely. The runner holds it `pending` already; a rejection means it was not queued. */
  submit(task: RemoteSubmission): Promise<void>;
  /**
   * Cancels the task wherever it is: a waiting job is removed, a running one's `ctx.signal` aborts
   * in the process that runs it. Resolves `true` when a cancel was delivered, `false` when the
   * task had already finished or is unknown. The task's state follows through `dispatch`.
   */
  cancel(taskId: TaskId, reason: string | undefined): Promise<boolean>;
  /** `define(name)` was called: from now on this process runs tasks of that name. */
  define(name: string): void;
  /**
   * Stops this process's work: no more jobs are taken; with `drain`, running handlers may finish
   * until `timeout` ms pass, after which (or at once without `drain`) they are aborted and their
   * jobs handed back to the queue without using up an attempt. Tasks this runner submitted keep
   * being reported until {@link BackendSession.close}. Idempotent.
   */
  stop(options: { drain: boolean; timeout: number | undefined }): Promise<void>;
  /** Closes every connection: nothing is reported after it. Idempotent. */
  close(): Promise<void>;
}

/**
 * Where a runner's tasks run when not in this process. Pass one as the runner's `backend` option;
 * `bullmqBackend()` from `tasklane/bullmq` is the one tasklane ships.
 */
export interface Backend {
  /** A short name for messages (`'bullmq'`). */
  readonly kind: string;
  /** Called once by each runner created with this backend. */
  connect(host: BackendHost): BackendSession;
}

/**
 * @internal
 * The `work` of a remote task: it runs elsewhere, so attaching and aborting do nothing here (the
 * backend reports through `dispatch`, and a cancel goes through {@link BackendSession.cancel}).
 * It has the shape of the local `Execution`, so the runner and the task actor treat it alike.
 */
export class RemoteWork {
  readonly taskId: TaskId;
  readonly handler: string;
  readonly args: readonly unknown[];
  /** The timeout the worker enforces; the local mirror arms no timer of its own. */
  readonly timeout: number | undefined;

  constructor(taskId: TaskId, handler: string, args: readonly unknown[], timeout: number | undefined) {
    this.taskId = taskId;
    this.handler = handler;
    this.args = args;
    this.timeout = timeout;
  }

  /** Nothing to start here: the backend reports the remote attempt through the runner. */
  attach(): void {}

  /** Nothing to abort here: `cancelTask` asks the backend. */
  abort(): void {}

  /** Always settled here: the task actor has nothing to abort when it leaves `running`. */
  get isSettled(): boolean {
    return true;
  }

  /** Keeps inspector payloads and `JSON.stringify(snapshot)` small. */
  toJSON(): { handler: string; args: number; remote: true } {
    return { handler: this.handler, args: this.args.length, remote: true };
  }
}
