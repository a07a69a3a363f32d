/**
 * The worker half of the BullMQ backend: one BullMQ `Worker` per defined task name, whose
 * processor runs the runner's handler with a `TaskContext` like a local task's — a signal that
 * really aborts on cancel and timeout, an attempt number, coalesced progress.
 */
import type { Redis } from 'ioredis';
import type { Job, Queue, Worker } from 'bullmq';
import { describe, isNonRetryable, TaskCancelledError, TaskTimeoutError, toError } from '../../errors.js';
import { backoffDelay } from '../../machines/task-machine.js';
import type { TaskContext, TaskId } from '../../types.js';
import type { BackendHost } from '../backend.js';
import { cancelChannel, cancelKey, openQueue, openRedis } from './connections.js';
import type { ResolvedBullmqOptions } from './connections.js';
import type { JobData } from './client.js';
import { encodeError } from './codec.js';
import type { WireProgress } from './codec.js';
import { bullmq } from './peers.js';

const { UnrecoverableError, WaitingError } = bullmq;

/** Why a running handler was stopped by the worker itself. */
class HandBack extends Error {
  override name = 'HandBack';
}

/** A job this process is running. */
interface Running {
  readonly controller: AbortController;
}

/** How long a cancel request for a job not running here yet is remembered (a race with its start). */
const RECENT_CANCEL_MS = 60_000;

/** @internal */
export class BullmqWorkers {
  readonly #options: ResolvedBullmqOptions;
  readonly #host: BackendHost;
  readonly #workers = new Map<string, Worker>();
  readonly #queues: Queue[] = [];
  readonly #running = new Map<TaskId, Running>();
  /** Cancel requests heard for jobs not running here (yet): id → when heard. */
  readonly #recentCancels = new Map<TaskId, { at: number; reason: string | undefined }>();
  #subscriber: Redis | undefined;
  #stopped = false;

  constructor(options: ResolvedBullmqOptions, host: BackendHost) {
    this.#options = options;
    this.#host = host;
  }

  /** The names this process runs. */
  get names(): string[] {
    return [...this.#workers.keys()];
  }

  define(name: string): void {
    if (this.#stopped || this.#workers.has(name)) return;
    this.#listenForCancels();
    const { rateLimit, concurrency } = this.#host;
    const worker = new bullmq.Worker(name, (job: Job, token?: string, signal?: AbortSignal) => this.#process(job, token, signal), {
      ...this.#options.workerOptions,
      connection: this.#options.connection,
      prefix: this.#options.prefix,
      concurrency,
      limiter: rateLimit ? { max: rateLimit.max, duration: rateLimit.interval } : this.#options.workerOptions.limiter,
      settings: {
        ...this.#options.workerOptions.settings,
        backoffStrategy: (attemptsMade: number, _type?: string, _error?: Error, job?: { id?: string | undefined; data: unknown }) => {
          const data = job?.data as JobData | undefined;
          return data ? backoffDelay(data.backoff, attemptsMade, job!.id ?? '') : 0;
        },
      },
    });
    worker.on('error', (error) => this.#host.report(error));
    this.#workers.set(name, worker);
    if (this.#options.globalConcurrency !== undefined) {
      const queue = openQueue(this.#options, name);
      this.#queues.push(queue);
      queue.setGlobalConcurrency(this.#options.globalConcurrency).catch((error: unknown) => this.#host.report(error));
    }
  }

  /**
   * Stops taking jobs. With `drain`, running handlers may finish until `timeout`; past it (or at
   * once without `drain`) they are aborted and their jobs go back to the queue with the attempt
   * not counted.
   */
  async stop({ drain, timeout }: { drain: boolean; timeout: number | undefined }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const workers = [...this.#workers.values()];
    // Take no new job while the running ones finish or are handed back.
    await Promise.all(workers.map((worker) => worker.pause(true).catch(() => undefined)));
    const handBack = (): void => {
      for (const running of this.#running.values()) running.controller.abort(new HandBack('the worker stopped'));
    };
    let timer: NodeJS.Timeout | undefined;
    if (!drain) handBack();
    else if (timeout !== undefined) timer = setTimeout(handBack, timeout);
    try {
      await Promise.all(workers.map((worker) => worker.close()));
    } finally {
      if (timer) clearTimeout(timer);
    }
    await Promise.allSettled([...this.#queues.map((queue) => queue.close()), this.#subscriber?.quit()]);
  }

  #listenForCancels(): void {
    if (this.#subscriber) return;
    const subscriber = openRedis(this.#options, this.#host);
    subscriber.subscribe(cancelChannel(this.#options.prefix)).catch((error: unknown) => this.#host.report(error));
    subscriber.on('message', (_channel: string, message: string) => {
      let request: { id: string; reason: string | null };
      try {
        request = JSON.parse(message) as { id: string; reason: string | null };
      } catch {
        return;
      }
      const reason = request.reason ?? undefined;
      const running = this.#running.get(request.id);
      if (running) running.controller.abort(new TaskCancelledError(request.id, reason));
      else this.#rememberCancel(request.id, reason);
    });
    this.#subscriber = subscriber;
  }

  #rememberCancel(taskId: TaskId, reason: string | undefined): void {
    const now = Date.now();
    for (const [id, { at }] of this.#recentCancels) {
      if (now - at < RECENT_CANCEL_MS) break;
      this.#recentCancels.delete(id);
    }
    this.#recentCancels.set(taskId, { at: now, reason });
  }

  /** BullMQ's processor: declared with `signal` so BullMQ passes one (its own `cancelJob`). */
  async #process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const taskId = job.id!;
    const data = job.data as JobData;
    const handler = this.#host.handler(job.name);
    if (!handler) throw new UnrecoverableError(encodeError(new TypeError(`No handler named ${JSON.stringify(job.name)} in this worker`)));
    const controller = new AbortController();
    const running: Running = { controller };
    this.#running.set(taskId, running);
    const abortFromBullmq = (): void => controller.abort(new TaskCancelledError(taskId, describeReason(signal?.reason)));
    signal?.addEventListener('abort', abortFromBullmq, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const progress = new ProgressWriter(job);
    try {
      const heard = this.#recentCancels.get(taskId);
      if (heard) controller.abort(new TaskCancelledError(taskId, heard.reason));
      else if (job.attemptsStarted > 1 && token !== undefined) {
        // A job run again (a retry, or a stalled job's next run) may have been cancelled meanwhile.
        const redis = (await this.#workers.get(job.name)!.getBackend().client) as unknown as Redis;
        const stored = await redis.get(cancelKey(this.#options.prefix, taskId));
        if (stored !== null)
          controller.abort(new TaskCancelledError(taskId, (JSON.parse(stored) as { reason: string | null }).reason ?? undefined));
      }
      if (data.timeout !== null) {
        const timeout = data.timeout;
        timer = setTimeout(() => controller.abort(new TaskTimeoutError(taskId, timeout)), timeout);
      }
      const context = new RemoteContext(taskId, job.attemptsStarted, controller.signal, progress);
      const output = await untilAborted(controller.signal, () => handler(...data.args, context));
      const result = isAsyncIterable(output) ? await this.#stream(output, controller.signal, progress) : output;
      await progress.flush();
      return result;
    } catch (thrown) {
      await progress.flush().catch(() => undefined);
      const error = toError(taskId, thrown);
      if (error instanceof HandBack) {
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (error instanceof TaskCancelledError) throw new UnrecoverableError(encodeError(error, { reason: reasonOf(error, taskId) }));
      if (error instanceof TaskTimeoutError && !data.retryOnTimeout) throw new UnrecoverableError(encodeError(error));
      if (isNonRetryable(error)) throw new UnrecoverableError(encodeError(error));
      throw new Error(encodeError(error), { cause: thrown });
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', abortFromBullmq);
      this.#running.delete(taskId);
      this.#recentCancels.delete(taskId);
    }
  }

  /** Pulls a stream's items, each to the client as a chunk; the result is what the stream returns, else its items. */
  async #stream(iterable: AsyncIterable<unknown>, signal: AbortSignal, progress: ProgressWriter): Promise<unknown> {
    const iterator = iterable[Symbol.asyncIterator]();
    const items: unknown[] = [];
    try {
      for (;;) {
        const step = await untilAborted(signal, () => iterator.next());
        if (step.done) return step.value !== undefined ? step.value : items;
        items.push(step.value);
        progress.chunk(step.value);
      }
    } finally {
      if (signal.aborted) void Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
  }
}

/** The `TaskContext` a remote handler receives. */
class RemoteContext implements TaskContext {
  readonly taskId: TaskId;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly #progress: ProgressWriter;

  constructor(taskId: TaskId, attempt: number, signal: AbortSignal, progress: ProgressWriter) {
    this.taskId = taskId;
    this.attempt = attempt;
    this.signal = signal;
    this.#progress = progress;
  }

  reportProgress = (fraction: number, message?: string): void => {
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`Expected \`fraction\` to be a number from 0 to 1, got ${describe(fraction)}`);
    }
    if (message !== undefined && typeof message !== 'string')
      throw new TypeError(`Expected \`message\` to be a string, got ${describe(message)}`);
    if (this.signal.aborted) return;
    this.#progress.report(fraction, message);
  };
}

/**
 * Writes progress to the job with at most one write in flight: what is reported meanwhile is merged
 * into the next write (the last fraction and message, every chunk in order).
 */
class ProgressWriter {
  readonly #job: Job;
  #next: WireProgress | undefined;
  #writing: Promise<void> | undefined;

  constructor(job: Job) {
    this.#job = job;
  }

  report(fraction: number, message: string | undefined): void {
    const next = (this.#next ??= {});
    next.f = fraction;
    if (message !== undefined) next.m = message;
    this.#kick();
  }

  chunk(item: unknown): void {
    ((this.#next ??= {}).c ??= []).push(item);
    this.#kick();
  }

  /** Resolves once everything reported so far is written. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = (async () => {
      try {
        while (this.#next) {
          const value = this.#next;
          this.#next = undefined;
          await this.#job.updateProgress(value as object);
        }
      } finally {
        this.#writing = undefined;
      }
    })();
    this.#writing.catch(() => undefined);
  }
}

/** Runs `fn`; settles with its outcome, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(signal: AbortSignal, fn: () => T | PromiseLike<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve()
      .then(fn)
      .then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
  });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

function describeReason(reason: unknown): string | undefined {
  return typeof reason === 'string' ? reason : reason instanceof Error ? reason.message : undefined;
}

/** The reason part of a `TaskCancelledError`'s message, to travel on to the client. */
function reasonOf(error: TaskCancelledError, taskId: TaskId): string | undefined {
  const prefix = `Task "${taskId}" was cancelled: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : undefined;
}
