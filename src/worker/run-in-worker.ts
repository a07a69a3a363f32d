import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { describe, NonRetryableError, RunnerError } from '../errors.js';
import { checkNonNegativeInteger, checkPositiveInteger, invalid } from '../validate.js';
import { VALIDATE_ARGS } from '../types.js';
import type { TaskContext } from '../types.js';
import { findUncloneable } from './cloneable.js';
import { RUN_KEY } from './worker-entry.js';
import type { ProgressMessage, SerializedError, WorkerRequest, WorkerResponse } from './worker-entry.js';
import { importPeer } from '../peer.js';

const { Piscina: PiscinaPool } = await importPeer('piscina', 'tasklane/worker', () => import('piscina'));

const NON_RETRYABLE: unique symbol = Symbol.for('tasklane.nonRetryable');

/**
 * Under a TypeScript runner (vitest, tsx) this file is `run-in-worker.ts` and its worker-side
 * sibling is `worker-entry.ts`, which a bare worker thread cannot load: the pool then starts its
 * threads with the `tsx` loader. Built, both are `.js` and need nothing.
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? './worker-entry.ts' : './worker-entry.js', import.meta.url));

/**
 * A worker module's export could not be run: the module failed to load (missing file, syntax
 * error, a failing top-level statement) or has no exported function of that name. The task fails
 * with it at once: it is not retried, since another attempt would load the same module.
 */
export class WorkerLoadError extends RunnerError {
  override name = 'WorkerLoadError' as const;
  /** The module's URL. */
  readonly url: string;
  /** The export that was asked for. */
  readonly exportName: string;
  /** @internal */
  readonly [NON_RETRYABLE] = true;
  constructor(url: string, exportName: string, reason: string) {
    super(
      `Cannot run export "${exportName}" of ${url} in a worker thread: ${reason}. Check the path (e.g. new URL('./file.js', import.meta.url)) and that the module exports a function named "${exportName}"`,
    );
    this.url = url;
    this.exportName = exportName;
  }
}

/** Options of {@link createWorkerPool}. Every field is optional. */
export interface WorkerPoolOptions {
  /**
   * The most threads the pool runs at once. Keep the runner's `maxConcurrentTasks` at or below
   * it: a task beyond it is `running` for the runner (its timeout ticking) while it waits for a thread.
   * @defaultValue `os.availableParallelism()`
   */
  maxThreads?: number;
  /**
   * Threads kept alive while idle. Idle threads never keep the process alive.
   * @defaultValue 0
   */
  minThreads?: number;
  /**
   * How long (ms) a thread beyond `minThreads` stays idle before it exits.
   * @defaultValue 30_000
   */
  idleTimeout?: number;
  /** Heap limits for each worker thread (see `worker_threads.ResourceLimits`). */
  resourceLimits?: ResourceLimits;
  /** Node options for the worker threads (e.g. `['--import', 'tsx']` to load `.ts` modules). Defaults to the process's. */
  execArgv?: string[];
}

/**
 * Creates a pool of worker threads (a piscina `Piscina`) for {@link workerTask}'s `pool` option.
 * Call `await pool.destroy()` when done with it to terminate its threads; idle threads never keep
 * the process alive, busy ones do.
 *
 * Any `Piscina` instance works as a pool, too: tasklane tells it which file to run per task.
 *
 * @param options - see {@link WorkerPoolOptions}.
 * @throws TypeError or RangeError naming the option, for a bad value.
 *
 * @example
 * ```ts
 * const pool = createWorkerPool({ maxThreads: 2 });
 * const hash = workerTask(new URL('./hash.js', import.meta.url), 'hashMany', { pool });
 * // …
 * await pool.destroy();
 * ```
 */
export function createWorkerPool(options: WorkerPoolOptions = {}): Piscina {
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  const { maxThreads = availableParallelism(), minThreads = 0, idleTimeout = 30_000, resourceLimits, execArgv } = options;
  checkPositiveInteger('maxThreads', maxThreads);
  checkNonNegativeInteger('minThreads', minThreads);
  if (minThreads > maxThreads) {
    throw new RangeError(`Expected \`minThreads\` (${minThreads}) to be at most \`maxThreads\` (${maxThreads})`);
  }
  if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0)) {
    throw new (typeof idleTimeout === 'number' ? RangeError : TypeError)(
      `Expected \`idleTimeout\` to be a non-negative number of milliseconds, got ${describe(idleTimeout)}`,
    );
  }
  if (resourceLimits !== undefined && (resourceLimits === null || typeof resourceLimits !== 'object')) {
    invalid('resourceLimits', 'an object', resourceLimits);
  }
  if (execArgv !== undefined && (!Array.isArray(execArgv) || execArgv.some((arg) => typeof arg !== 'string'))) {
    invalid('execArgv', 'an array of strings', execArgv);
  }
  return new PiscinaPool({
    filename: ENTRY,
    maxThreads,
    minThreads,
    idleTimeout,
    ...(resourceLimits ? { resourceLimits } : {}),
    execArgv: execArgv ?? sourceExecArgv(),
  });
}

let defaultPool: Piscina | undefined;

/** The shared pool of tasks created without a `pool`: made on first use, threads unreferenced. */
function getDefaultPool(): Piscina {
  return (defaultPool ??= createWorkerPool());
}

/**
 * The process's own Node options, plus the `tsx` loader when tasklane runs from its TypeScript
 * sources (its tests): a worker thread does not inherit a loader vitest set up in-process.
 */
function sourceExecArgv(): string[] {
  if (!FROM_SOURCE || process.execArgv.some((arg) => arg.includes('tsx'))) return process.execArgv;
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [...process.execArgv, '--import', tsx];
}

/** Options of {@link workerTask}. */
export interface WorkerTaskOptions {
  /**
   * The pool to run in: one from {@link createWorkerPool}, or any `Piscina` instance.
   * @defaultValue one pool shared by all tasks without a pool, created on first use, with
   * `maxThreads` = `os.availableParallelism()`
   */
  pool?: Piscina;
}

/** The work function {@link workerTask} returns: pass it to `runner.submit`. */
export type WorkerTaskFunction<TArgs extends unknown[] = unknown[], TResult = unknown> = ((
  ...args: [...TArgs, TaskContext]
) => Promise<TResult>) & {
  /** The module the export is loaded from. */
  readonly url: string;
  /** The export that runs. */
  readonly exportName: string;
};

/** The arguments of a worker function `(…args, context)`, without its trailing context. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ArgsOf<F extends (...args: any[]) => unknown> =
  Parameters<F> extends [...infer A, TaskContext] ? A : Parameters<F> extends [...infer A, (TaskContext | undefined)?] ? A : Parameters<F>;

/**
 * Makes work that runs the function `exportName` of the module at `url` in a worker thread, so
 * CPU-bound JavaScript does not block the event loop. Submit it like any work:
 * `runner.submit(work, { args, timeout })`. The task is an ordinary task (same states, events,
 * retries, timeouts); only where its work runs changes.
 *
 * - In the worker the function is called as `fn(...args, context)`; `context` has `taskId`,
 *   `attempt`, `signal` (never aborted: the thread is terminated instead) and
 *   `reportProgress(fraction, message?)`, whose reports become the task's `progress` events on
 *   the main thread, all before the task completes.
 * - `args` and the result cross threads by structured clone: plain data, typed arrays, `Map`,
 *   `Set`, `Date`, errors. `submit()` throws a `TypeError` naming the argument when one cannot
 *   cross (a function, a symbol, a promise, a `WeakMap`, …).
 * - On cancel or timeout the worker thread is terminated, even in the middle of `while (true) {}`,
 *   and the pool starts a fresh one. The task ends `cancelled`, or `failed` with `TaskTimeoutError`.
 * - An error thrown in the worker fails the task with an error of the same name, message, stack,
 *   `code` and `cause` (and `NonRetryableError` stays non-retryable). A module that does not load
 *   or lacks the export fails the task with {@link WorkerLoadError}.
 *
 * @param url - the module: a `URL` (typically `new URL('./hash.js', import.meta.url)`), a `file:`
 *   URL string or an absolute path. The worker thread imports it with plain Node, so it must be
 *   JavaScript (or pass a loader in the pool's `execArgv`).
 * @param exportName - the exported function to call. @defaultValue `'default'`
 * @param options - see {@link WorkerTaskOptions}.
 * @returns a work function for `runner.submit`; its name is `exportName`, which names the tasks.
 * @throws TypeError for a relative path, a bare package name or a bad option.
 *
 * @example
 * ```ts
 * // hash.js
 * export function hashMany(data, rounds, { reportProgress }) { … return digest; }
 *
 * // main.ts
 * import type { hashMany } from './hash.js';
 * const hash = workerTask<typeof hashMany>(new URL('./hash.js', import.meta.url), 'hashMany');
 * const task = await runner.submit(hash, { args: [data, 1000], timeout: 5_000 });
 * console.log(await task.wait());
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function workerTask<F extends (...args: any[]) => unknown = (...args: any[]) => unknown>(
  url: URL | string,
  exportName = 'default',
  options: WorkerTaskOptions = {},
): WorkerTaskFunction<ArgsOf<F>, Awaited<ReturnType<F>>> {
  const href = moduleHref(url);
  if (typeof exportName !== 'string' || exportName === '') invalid('exportName', 'a non-empty string', exportName);
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  const { pool } = options;
  // Duck-typed, so a Piscina from another copy of the package passes too.
  if (pool !== undefined && (typeof pool?.run !== 'function' || typeof pool.on !== 'function')) {
    invalid('pool', 'a pool from createWorkerPool() or a Piscina instance', pool);
  }

  const work = async (...argsAndContext: unknown[]): Promise<unknown> => {
    const context = argsAndContext.pop() as TaskContext;
    return runInWorker(pool ?? getDefaultPool(), href, exportName, argsAndContext, context);
  };
  Object.defineProperty(work, 'name', { value: exportName });
  Object.defineProperty(work, VALIDATE_ARGS, {
    value: (args: readonly unknown[]) => {
      for (let index = 0; index < args.length; index += 1) {
        const problem = findUncloneable(args[index], `args[${index}]`);
        if (problem) {
          throw new TypeError(
            `Cannot send argument ${index} to "${exportName}" in a worker thread: ${problem}, which a structured clone cannot copy. Pass plain data (objects, arrays, strings, numbers, typed arrays, Maps, Sets, Dates) and keep functions in the worker module`,
          );
        }
      }
    },
  });
  Object.defineProperty(work, 'url', { value: href, enumerable: true });
  Object.defineProperty(work, 'exportName', { value: exportName, enumerable: true });
  return work as unknown as WorkerTaskFunction<ArgsOf<F>, Awaited<ReturnType<F>>>;
}

function moduleHref(url: unknown): string {
  if (url instanceof URL) return url.href;
  if (typeof url !== 'string' || url === '') invalid('url', 'a URL or an absolute path', url);
  if (isAbsolute(url)) return pathToFileURL(url).href;
  if (/^[a-z][a-z\d+.-]*:/i.test(url) && !/^[a-z]:[\\/]/i.test(url)) return new URL(url).href;
  throw new TypeError(
    `Expected \`url\` to be a URL or an absolute path, got ${describe(url)}; write new URL(${JSON.stringify(url)}, import.meta.url) for a module next to yours, or import.meta.resolve(${JSON.stringify(url)}) for a package`,
  );
}

/** One attempt running in a pool: where its progress reports go. */
interface ProgressSink {
  readonly context: TaskContext;
  received: number;
  /** Set while the answer waits for progress reports still on their way. */
  expected?: { readonly count: number; readonly resolve: () => void };
}

const sinks = new Map<number, ProgressSink>();
const listening = new WeakSet<Piscina>();
let nextRunId = 0;

/** Routes a progress report from any thread of a pool to its run. */
function onPoolMessage(message: unknown): void {
  if (message === null || typeof message !== 'object' || !(RUN_KEY in message)) return; // someone else's
  const { [RUN_KEY]: runId, fraction, message: text } = message as ProgressMessage;
  const sink = sinks.get(runId);
  if (!sink) return;
  sink.received += 1;
  try {
    sink.context.reportProgress(fraction, text);
  } catch {
    // Validated in the worker; a report after the task left `running` is ignored, not thrown.
  }
  if (sink.expected && sink.received >= sink.expected.count) sink.expected.resolve();
}

/** Runs one attempt in `pool` and turns its answer into a value or a thrown error. */
async function runInWorker(pool: Piscina, url: string, exportName: string, args: unknown[], context: TaskContext): Promise<unknown> {
  if (!listening.has(pool)) {
    listening.add(pool);
    pool.on('message', onPoolMessage);
  }
  const { signal } = context;
  const runId = (nextRunId = (nextRunId + 1) % Number.MAX_SAFE_INTEGER);
  const sink: ProgressSink = { context, received: 0 };
  sinks.set(runId, sink);
  const request: WorkerRequest = { url, exportName, args, taskId: context.taskId, attempt: context.attempt, runId };
  try {
    let response: WorkerResponse;
    try {
      // Aborting `signal` (cancel, timeout, stop) makes piscina terminate the thread running this.
      response = (await pool.run(request, { filename: ENTRY, name: 'default', signal })) as WorkerResponse;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof Error && error.name === 'DataCloneError') {
        throw new TypeError(`Cannot send the arguments of "${exportName}" to a worker thread: ${error.message}`, { cause: error });
      }
      if (error instanceof Error && /^worker exited/i.test(error.message)) {
        // The thread died under the task: `process.exit()` in the worker, out of memory, a crash.
        throw new Error(`The worker thread running "${exportName}" of ${url} died: ${error.message}`, { cause: error });
      }
      throw error; // the pool's own refusal, e.g. a full queue of a pool created with `maxQueue`
    }
    // Progress travels on the thread's own port, the answer on piscina's: wait for reports posted
    // before the answer that have not arrived yet, so every one lands before the task completes.
    if (sink.received < response.progress) {
      await new Promise<void>((resolve) => {
        // They are already queued on this thread, so they come within a turn of the event loop;
        // the timer only guards against a pool whose `message` listeners someone removed.
        const timer = setTimeout(resolve, 1_000).unref();
        sink.expected = {
          count: response.progress,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    }
    if (response.ok) return response.value;
    if ('load' in response) throw new WorkerLoadError(url, exportName, response.load);
    if ('thrown' in response) throw response.thrown;
    throw deserializeError(response.error);
  } finally {
    sinks.delete(runId);
  }
}

const STANDARD_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Rebuilds an error thrown in the worker: same name, message, stack and own properties. */
function deserializeError(serialized: SerializedError): Error {
  const cause =
    serialized.cause === undefined
      ? undefined
      : 'error' in serialized.cause
        ? { cause: deserializeError(serialized.cause.error) }
        : { cause: serialized.cause.value };
  const Standard = STANDARD_ERRORS[serialized.name];
  const error: Error = serialized.nonRetryable
    ? new NonRetryableError(serialized.message, cause)
    : new (Standard ?? Error)(serialized.message, cause);
  if (error.name !== serialized.name) {
    Object.defineProperty(error, 'name', { value: serialized.name, writable: true, configurable: true });
  }
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  Object.assign(error, serialized.props);
  return error;
}
