/**
 * The client half of the BullMQ backend: submits jobs, reads each queue's event stream once per
 * process and turns what it says into the task chart's events, cancels jobs wherever they are.
 */
import type { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BackendHost, RemoteSubmission } from '../backend.js';
import type { TaskId } from '../../types.js';
import { decodeFailure, isWireProgress, toBullmqPriority } from './codec.js';
import type { DecodedFailure } from './codec.js';
import { cancelChannel, cancelKey, openQueue, openRedis, queuesKey } from './connections.js';
import type { ResolvedBullmqOptions } from './connections.js';
import { bullmq } from './peers.js';

/** What a job carries in its `data`: everything a worker needs to run the task like a local one. */
export interface JobData {
  readonly args: readonly unknown[];
  readonly name: string;
  readonly timeout: number | null;
  readonly retryOnTimeout: boolean;
  readonly backoff: RemoteSubmission['backoff'];
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** One event of a queue's stream, as the reader hands it on. */
type StreamEvent =
  | { type: 'active'; jobId: string }
  | { type: 'progress'; jobId: string; data: unknown }
  | { type: 'completed'; jobId: string; returnvalue: unknown }
  | { type: 'failed'; jobId: string; failedReason: string }
  | { type: 'requeued'; jobId: string; queue: Queue }
  | { type: 'removed'; jobId: string };

/** A queue this process submits to, with its one event reader. */
interface Channel {
  readonly queue: Queue;
  readonly ready: Promise<QueueEvents>;
}

const HOUR = 3_600;
/** How long close() waits for connections to end before it gives up on them. */
const CLOSE_TIMEOUT_MS = 3_000;

/** @internal */
export class BullmqClient {
  readonly #options: ResolvedBullmqOptions;
  readonly #host: BackendHost;
  readonly #channels = new Map<string, Channel>();
  /** Which queue each task this process submitted went to (dropped when it ends). */
  readonly #queueOf = new Map<TaskId, string>();
  /** Stream events in arrival order; one that needs a Redis read holds the ones behind it. */
  readonly #inbox: StreamEvent[] = [];
  #draining = false;
  #closed = false;
  /** A plain connection for look-ups outside any queue, opened on first use. */
  #adminClient: Redis | undefined;

  constructor(options: ResolvedBullmqOptions, host: BackendHost) {
    this.#options = options;
    this.#host = host;
  }

  async submit(task: RemoteSubmission): Promise<void> {
    const channel = this.#channel(task.handler);
    // The reader is reading before the job exists, so no event of it can be missed.
    await channel.ready;
    const data: JobData = {
      args: task.args,
      name: task.name,
      timeout: task.timeout ?? null,
      retryOnTimeout: task.retryOnTimeout,
      backoff: task.backoff,
      metadata: task.metadata,
    };
    this.#queueOf.set(task.taskId, task.handler);
    const keep = this.#options.keepFinishedFor;
    await channel.queue.add(task.handler, data, {
      jobId: task.taskId,
      attempts: task.maxAttempts,
      backoff: { type: 'tasklane', delay: 0 },
      priority: toBullmqPriority(task.priority),
      removeOnComplete: { age: keep, count: 100_000 },
      removeOnFail: { age: Math.max(keep, HOUR), count: 100_000 },
    });
  }

  /**
   * Removes a waiting job; asks the worker running an active one to abort it (pub/sub, plus a key a
   * later run checks, so a job whose worker died is not run again).
   */
  async cancel(taskId: TaskId, reason: string | undefined, definedNames: Iterable<string>): Promise<boolean> {
    const found = await this.#find(taskId, definedNames);
    if (!found) return false;
    const { job, queue } = found;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return false;
    if (state !== 'active') {
      try {
        await job.remove();
        this.#host.dispatch(taskId, { type: 'cancel', at: this.#host.now(), reason });
        return true;
      } catch {
        // Locked by a worker that has just taken it: cancel it as a running job.
      }
    }
    const redis = (await queue.getBackend().client) as unknown as Redis;
    const message = JSON.stringify({ id: taskId, reason: reason ?? null });
    await redis
      .multi()
      .set(cancelKey(this.#options.prefix, taskId), message, 'EX', 86_400)
      .publish(cancelChannel(this.#options.prefix), message)
      .exec();
    return true;
  }

  /**
   * Reads the state of every task this runner holds unfinished and applies what it finds: after a
   * lost connection, events trimmed from a stream would otherwise be missed.
   */
  async reconcile(): Promise<void> {
    for (const taskId of this.#host.activeIds()) {
      const queueName = this.#queueOf.get(taskId);
      const channel = queueName === undefined ? undefined : this.#channels.get(queueName);
      if (!channel) continue;
      const job = (await channel.queue.getJob(taskId)) as Job | undefined;
      if (!job) {
        this.#host.dispatch(taskId, { type: 'cancel', at: this.#host.now(), reason: 'the job was removed from the queue' });
        continue;
      }
      const state = await job.getState();
      if (state === 'active') this.#toRunning(taskId);
      else if (state === 'completed') this.#apply({ type: 'completed', jobId: taskId, returnvalue: job.returnvalue });
      else if (state === 'failed') this.#apply({ type: 'failed', jobId: taskId, failedReason: job.failedReason });
      else if (job.attemptsMade > (this.#host.peek(taskId)?.failedAttempts ?? 0)) this.#failedAttempt(taskId, job);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closing: Promise<unknown>[] = [];
    for (const channel of this.#channels.values()) {
      closing.push(
        channel.ready.then(
          (events) => events.close(),
          () => undefined,
        ),
        channel.queue.close(),
      );
    }
    if (this.#adminClient) closing.push(this.#adminClient.quit());
    // A connection that never came up must not hold stop() forever.
    await withTimeout(Promise.allSettled(closing), CLOSE_TIMEOUT_MS, () => new Error('close timed out')).catch(() => undefined);
  }

  #admin(): Redis {
    return (this.#adminClient ??= openRedis(this.#options, this.#host));
  }

  /** The queue and its reader for `name`, opened on first use. */
  #channel(name: string): Channel {
    let channel = this.#channels.get(name);
    if (channel) return channel;
    const queue = openQueue(this.#options, name);
    // Each add in flight waits on the queue's connection with a listener of its own.
    queue.setMaxListeners(0);
    queue.on('error', (error) => {
      if (!this.#closed) this.#host.report(error);
    });
    const ready = withTimeout(
      this.#openReader(queue),
      this.#options.connectTimeout,
      () =>
        new Error(
          `Could not reach Redis within ${this.#options.connectTimeout} ms (the backend's \`connectTimeout\`) to queue ${JSON.stringify(name)}`,
        ),
    );
    channel = { queue, ready };
    const opened = channel;
    // A failed open is reported to whoever awaits `ready`; the next use of the name tries again.
    ready.catch(() => {
      if (this.#channels.get(name) === opened) this.#channels.delete(name);
      void queue.close().catch(() => undefined);
    });
    this.#channels.set(name, channel);
    return channel;
  }

  async #openReader(queue: Queue): Promise<QueueEvents> {
    const redis = (await queue.getBackend().client) as unknown as Redis;
    // Start right after the stream's last entry: events written from now on are all read, even
    // those between this call and the reader's first blocking read (bullmq#2874).
    const last = (await redis.xrevrange(queue.keys.events!, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const lastEventId = last[0]?.[0] ?? '0-0';
    // Known to every process of this prefix, so one that holds no task of this queue can still cancel it.
    await redis.sadd(queuesKey(this.#options.prefix), queue.name);
    const events = new bullmq.QueueEvents(queue.name, { connection: this.#options.connection, prefix: this.#options.prefix, lastEventId });
    events.on('error', (error) => {
      if (!this.#closed) this.#host.report(error);
    });
    events.on('active', ({ jobId }) => this.#push({ type: 'active', jobId }));
    events.on('progress', ({ jobId, data }) => this.#push({ type: 'progress', jobId, data }));
    events.on('completed', ({ jobId, returnvalue }) => this.#push({ type: 'completed', jobId, returnvalue }));
    events.on('failed', ({ jobId, failedReason }) => this.#push({ type: 'failed', jobId, failedReason }));
    events.on('removed', ({ jobId }) => this.#push({ type: 'removed', jobId }));
    // Back in the queue after a running attempt: a retry (an attempt failed), a stall or a hand-back.
    events.on('waiting', ({ jobId, prev }) => {
      if (prev === 'active') this.#push({ type: 'requeued', jobId, queue });
    });
    events.on('delayed', ({ jobId }) => this.#push({ type: 'requeued', jobId, queue }));
    await events.waitUntilReady();
    // After a reconnect, read what the stream may no longer hold.
    const client = await events.getBackend().client;
    let connected = true;
    client.on('close', () => (connected = false));
    client.on('ready', () => {
      if (connected || this.#closed) return;
      connected = true;
      this.reconcile().catch((error: unknown) => this.#host.report(error));
    });
    return events;
  }

  #push(event: StreamEvent): void {
    if (this.#host.peek(event.jobId) === undefined) return; // not a task this runner holds
    this.#inbox.push(event);
    if (!this.#draining) void this.#drain();
  }

  /** Applies the inbox in order; an event that needs the job's record waits for it, and so do those behind it. */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      let index = 0;
      while (index < this.#inbox.length) {
        const event = this.#inbox[index]!;
        index += 1;
        if (index > 1_024) {
          this.#inbox.splice(0, index);
          index = 0;
        }
        try {
          if (event.type === 'requeued') await this.#requeued(event.jobId, event.queue);
          else this.#apply(event);
        } catch (error) {
          if (!this.#closed) this.#host.report(error);
        }
      }
      this.#inbox.length = 0;
    } finally {
      this.#draining = false;
    }
  }

  #apply(event: Exclude<StreamEvent, { type: 'requeued' }>): void {
    const taskId = event.jobId;
    const host = this.#host;
    switch (event.type) {
      case 'active':
        this.#toRunning(taskId);
        return;
      case 'progress': {
        if (!isWireProgress(event.data)) return;
        this.#toRunning(taskId);
        const { f, m, c } = event.data;
        if (f !== undefined || m !== undefined) host.dispatch(taskId, { type: 'progress', fraction: f, message: m });
        if (c) for (const chunk of c) host.dispatch(taskId, { type: 'progress', chunk });
        return;
      }
      case 'completed':
        this.#toRunning(taskId);
        host.dispatch(taskId, { type: 'done', output: event.returnvalue, at: host.now() });
        this.#queueOf.delete(taskId);
        return;
      case 'failed':
        this.#finalFailure(taskId, decodeFailure(taskId, event.failedReason));
        this.#queueOf.delete(taskId);
        return;
      case 'removed':
        host.dispatch(taskId, { type: 'cancel', at: host.now(), reason: 'the job was removed from the queue' });
        this.#queueOf.delete(taskId);
        return;
    }
  }

  #finalFailure(taskId: TaskId, failure: DecodedFailure): void {
    const host = this.#host;
    const at = host.now();
    if (failure.kind === 'cancelled') {
      host.dispatch(taskId, { type: 'cancel', at, reason: failure.reason });
      return;
    }
    if (failure.kind === 'lost') {
      host.dispatch(taskId, { type: 'lose', at, error: failure.error });
      return;
    }
    this.#toRunning(taskId);
    // BullMQ will not run it again, so the chart must not retry it either.
    markFinal(failure.error);
    host.dispatch(taskId, { type: 'error', error: failure.error, at });
  }

  /** A job went back to the queue after running: if an attempt failed, the chart records it. */
  async #requeued(taskId: TaskId, queue: Queue): Promise<void> {
    const seen = this.#host.peek(taskId);
    if (seen === undefined || (seen.status !== 'running' && seen.status !== 'pending')) return;
    const job = (await queue.getJob(taskId)) as Job | undefined;
    if (!job) return;
    // A stall or a hand-back leaves `attemptsMade` as it was: the task stays `running` until it
    // runs again (the chart has no way back to `pending`).
    if (job.attemptsMade > seen.failedAttempts) this.#failedAttempt(taskId, job);
  }

  #failedAttempt(taskId: TaskId, job: Job): void {
    const failure = decodeFailure(taskId, job.failedReason);
    // Read after the job already failed for good (its `failed` event may follow): that is the outcome.
    if (job.finishedOn != null || failure.kind !== 'error') {
      this.#finalFailure(taskId, failure);
      return;
    }
    this.#toRunning(taskId);
    this.#host.dispatch(taskId, { type: 'error', error: failure.error, at: this.#host.now() });
  }

  /** Brings the mirror to `running` before an outcome, whatever events it missed on the way. */
  #toRunning(taskId: TaskId): void {
    const status = this.#host.peek(taskId)?.status;
    if (status === 'pending') this.#host.dispatch(taskId, { type: 'start', at: this.#host.now() });
    else if (status === 'retrying') this.#host.dispatch(taskId, { type: 'retry', at: this.#host.now() });
  }

  /** The job, in the queue this process submitted it to, else in any queue it knows. */
  async #find(taskId: TaskId, definedNames: Iterable<string>): Promise<{ job: Job; queue: Queue } | undefined> {
    const known = this.#queueOf.get(taskId);
    let names = known !== undefined ? [known] : [...new Set([...this.#channels.keys(), ...definedNames])];
    if (known === undefined) {
      names = [...new Set([...names, ...(await this.#admin().smembers(queuesKey(this.#options.prefix)))])];
    }
    for (const name of names) {
      const { queue } = this.#channel(name);
      const job = (await queue.getJob(taskId)) as Job | undefined;
      if (job) return { job, queue };
    }
    return undefined;
  }
}

/** Marks an error as one the chart must not retry (the remote queue has already decided). */
function markFinal(error: Error): void {
  Object.defineProperty(error, Symbol.for('tasklane.nonRetryable'), { value: true, enumerable: false });
}

/** `promise`, or a rejection with `error()` after `ms` (the timer never holds the process open). */
function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
    timer.unref();
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
