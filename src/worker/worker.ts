/**
 * `tasklane/worker`: run CPU-bound work in worker threads (on piscina, an optional peer
 * dependency that only this entry loads).
 *
 * @example
 * ```ts
 * import { BackgroundRunner } from 'tasklane';
 * import { workerTask } from 'tasklane/worker';
 *
 * const runner = new BackgroundRunner({ maxConcurrentTasks: 4 });
 * const hash = workerTask(new URL('./hash.js', import.meta.url), 'hashMany');
 * const task = await runner.submit(hash, { args: [data, 1000], timeout: 5_000 });
 * console.log(await task.wait());
 * ```
 *
 * @packageDocumentation
 */
export { createWorkerPool, workerTask, WorkerLoadError } from './run-in-worker.js';
export type { WorkerPoolOptions, WorkerTaskFunction, WorkerTaskOptions } from './run-in-worker.js';
export type { TaskContext as WorkerTaskContext } from '../types.js';
