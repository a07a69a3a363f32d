/**
 * @internal
 * What the BullMQ backend's client and worker halves share: resolved options, the connections
 * tasklane opens besides BullMQ's own, and the names of the Redis keys it adds.
 */
import type { ConnectionOptions, Queue, WorkerOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import type { BackendHost } from '../backend.js';
import { bullmq, ioredis } from './peers.js';

/** @internal Options with defaults applied. */
export interface ResolvedBullmqOptions {
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  readonly workerOptions: Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'autorun'>;
  readonly globalConcurrency: number | undefined;
  readonly keepFinishedFor: number;
  readonly connectTimeout: number;
}

/** @internal Checks a task name for use as a BullMQ queue name. */
export function checkQueueName(name: string): void {
  if (name.includes(':')) {
    throw new TypeError(`Expected \`name\` to be a task name without \`:\` (it names a BullMQ queue), got ${JSON.stringify(name)}`);
  }
}

/** @internal Opens a BullMQ queue handle with the backend's connection and prefix. */
export function openQueue(options: ResolvedBullmqOptions, name: string): Queue {
  return new bullmq.Queue(name, { connection: options.connection, prefix: options.prefix });
}

/** @internal The pub/sub channel cancel requests travel on. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:tasklane:cancel`;
}

/** @internal The key that remembers a cancel request for a job that may run again later. */
export function cancelKey(prefix: string, taskId: string): string {
  return `${prefix}:tasklane:cancelled:${taskId}`;
}

/** @internal The set of queue names tasks were submitted to under `prefix`. */
export function queuesKey(prefix: string): string {
  return `${prefix}:tasklane:queues`;
}

/** @internal A connection of tasklane's own (pub/sub, look-ups): a duplicate of a given client, else a new one. */
export function openRedis(options: ResolvedBullmqOptions, host: BackendHost): Redis {
  const { connection } = options;
  const redis =
    connection instanceof ioredis.Redis
      ? connection.duplicate()
      : new ioredis.Redis({ ...(connection as RedisOptions), maxRetriesPerRequest: null });
  redis.on('error', (error) => host.report(error));
  return redis;
}
