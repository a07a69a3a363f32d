/**
 * `tasklane/bullmq`: the runner's tasks on BullMQ and Redis, across processes and machines.
 */
import type { ConnectionOptions, WorkerOptions } from 'bullmq';
import type { Backend, BackendHost, BackendSession } from '../backend.js';
import { checkQueueName } from './connections.js';
import type { ResolvedBullmqOptions } from './connections.js';
import { invalid, checkPositiveInteger } from '../../validate.js';
import { BullmqClient } from './client.js';
import { BullmqWorkers } from './workers.js';

export type { Backend } from '../backend.js';

/** Options of {@link bullmqBackend}. */
export interface BullmqBackendOptions {
  /** How to reach Redis: ioredis options (`{ host, port }`) or an ioredis instance (duplicated per use). */
  readonly connection: ConnectionOptions;
  /**
   * The prefix of every Redis key (BullMQ's `prefix`). Processes that share work use the same one.
   * @defaultValue `'tasklane'`
   */
  readonly prefix?: string | undefined;
  /**
   * Options passed to each BullMQ `Worker` (for example `lockDuration`, `stalledInterval`,
   * `maxStalledCount`). `concurrency` comes from the runner's `maxConcurrentTasks` and `limiter`
   * from its `rateLimit`; the processor and connection are tasklane's.
   */
  readonly workerOptions?: Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'autorun'> | undefined;
  /**
   * How many tasks of one name may run at once across every worker process (BullMQ's
   * `setGlobalConcurrency`), set when a worker defines that name. @defaultValue no bound
   */
  readonly globalConcurrency?: number | undefined;
  /**
   * How long finished jobs stay in Redis, in seconds, so a client that reconnects can still read
   * their outcome. @defaultValue 86_400 (one day)
   */
  readonly keepFinishedFor?: number | undefined;
  /**
   * How long `submit()` and `cancelTask()` wait for Redis the first time they use a queue before
   * they reject (an unreachable Redis must not hang the caller). @defaultValue 10_000
   */
  readonly connectTimeout?: number | undefined;
}

/**
 * A backend that runs a runner's named tasks on BullMQ (Redis): one BullMQ queue per task name. A
 * runner given it submits by name to the queue, and a runner that `define()`s a name runs that
 * queue's jobs, up to its `maxConcurrentTasks` at once. The submitting runner's task handle mirrors
 * the remote job live (one `QueueEvents` reader per queue per process).
 *
 * Requires the optional peer dependencies `bullmq` (6) and `ioredis` (5).
 *
 * @param options - see {@link BullmqBackendOptions}.
 * @returns a backend to pass as the runner's `backend` option; one backend may serve several runners.
 * @throws TypeError naming the option, for a bad value.
 *
 * @example
 * ```ts
 * import { BackgroundRunner } from 'tasklane';
 * import { bullmqBackend } from 'tasklane/bullmq';
 *
 * const backend = bullmqBackend({ connection: { host: '127.0.0.1', port: 6379 } });
 * const worker = new BackgroundRunner({ backend, maxConcurrentTasks: 4 });
 * worker.define('research', async (topic: string, ctx) => lookUp(topic, ctx.signal));
 * const client = new BackgroundRunner({ backend });
 * const task = await client.submit('research', { args: ['AI'], timeout: 60_000, retries: 2 });
 * console.log(await task.wait());
 * ```
 */
export function bullmqBackend(options: BullmqBackendOptions): Backend {
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  const {
    connection,
    prefix = 'tasklane',
    workerOptions = {},
    globalConcurrency,
    keepFinishedFor = 86_400,
    connectTimeout = 10_000,
  } = options;
  if (connection === null || typeof connection !== 'object') {
    invalid('connection', "ioredis options ({ host: '127.0.0.1', port: 6379 }) or an ioredis instance", connection);
  }
  if (typeof prefix !== 'string' || prefix === '' || prefix.includes(':')) invalid('prefix', 'a non-empty string without `:`', prefix);
  if (workerOptions === null || typeof workerOptions !== 'object')
    invalid('workerOptions', 'an object of BullMQ Worker options', workerOptions);
  if (globalConcurrency !== undefined) checkPositiveInteger('globalConcurrency', globalConcurrency);
  checkPositiveInteger('keepFinishedFor', keepFinishedFor);
  checkPositiveInteger('connectTimeout', connectTimeout);
  const resolved: ResolvedBullmqOptions = { connection, prefix, workerOptions, globalConcurrency, keepFinishedFor, connectTimeout };
  return {
    kind: 'bullmq',
    connect: (host) => new BullmqSession(resolved, host),
  };
}

/** One runner's link: the client half (submit, watch, cancel) and the worker half (run handlers). */
class BullmqSession implements BackendSession {
  readonly #client: BullmqClient;
  readonly #workers: BullmqWorkers;

  constructor(options: ResolvedBullmqOptions, host: BackendHost) {
    this.#client = new BullmqClient(options, host);
    this.#workers = new BullmqWorkers(options, host);
  }

  submit: BackendSession['submit'] = (task) => {
    checkQueueName(task.handler);
    return this.#client.submit(task);
  };

  async cancel(taskId: string, reason: string | undefined): Promise<boolean> {
    return this.#client.cancel(taskId, reason, this.#workers.names);
  }

  define(name: string): void {
    checkQueueName(name);
    this.#workers.define(name);
  }

  async stop(options: { drain: boolean; timeout: number | undefined }): Promise<void> {
    await this.#workers.stop(options);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
