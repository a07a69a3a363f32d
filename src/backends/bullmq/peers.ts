import { importPeer } from '../../peer.js';

type BullMQ = typeof import('bullmq');
interface IORedis {
  readonly Redis: typeof import('ioredis').Redis;
}

/** BullMQ and ioredis, the BullMQ backend's peer dependencies, loaded with an error that says what to install. */
export const bullmq: BullMQ = await importPeer('bullmq', 'tasklane/bullmq', () => import('bullmq'));
export const ioredis: IORedis = await importPeer('ioredis', 'tasklane/bullmq', () => import('ioredis'));
