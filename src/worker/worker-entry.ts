/**
 * The code that runs inside a worker thread of the pool: piscina calls the default export with
 * one {@link WorkerRequest} per task. It imports the user's module, calls the named export as
 * `fn(...args, context)` and answers with a {@link WorkerResponse}: a value, or a failure described
 * as plain data so that the error's name, message, stack, `code` and `cause` reach the main thread
 * (a structured clone alone turns a custom error class into a bare `Error`).
 *
 * Nothing here imports piscina: a worker only needs this file, `cloneable.js` and `errors.js`.
 *
 * @internal
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';
import { describe, isNonRetryable } from '../errors.js';
import type { TaskContext, TaskId } from '../types.js';
import { findUncloneable } from './cloneable.js';

/** @internal The key that marks tasklane's progress messages among a pool's worker messages. */
export const RUN_KEY = '__tasklaneRun';

/** @internal What the main thread posts for one task. */
export interface WorkerRequest {
  /** The module's URL (`file:` or any URL `import()` takes). */
  readonly url: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
  readonly taskId: TaskId;
  readonly attempt: number;
  /** Tags this run's progress messages. */
  readonly runId: number;
}

/** @internal An error as plain data. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** Own enumerable properties that can be cloned (`code`, `status`, …). */
  readonly props: Record<string, unknown>;
  readonly cause?: { readonly error: SerializedError } | { readonly value: unknown };
  readonly nonRetryable: boolean;
}

/** @internal The answer for one task; `progress` counts the progress messages posted before it. */
export type WorkerResponse = { readonly progress: number } & (
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: SerializedError }
  | { readonly ok: false; readonly thrown: unknown }
  | { readonly ok: false; readonly load: string }
);

/**
 * @internal A progress report, posted on the thread's own port (piscina emits it as the pool's
 * `message` event). Cheaper than a `MessageChannel` per task, which costs a port transfer each.
 */
export interface ProgressMessage {
  readonly [RUN_KEY]: number;
  readonly fraction: number;
  readonly message: string | undefined;
}

/** The modules this thread has imported, so a task skips the loader's resolution after the first. */
const modules = new Map<string, Promise<Record<string, unknown>>>();

function load(url: string): Promise<Record<string, unknown>> {
  let module = modules.get(url);
  if (!module) {
    module = (import(url) as Promise<Record<string, unknown>>).catch((error: unknown) => {
      // Node 20 does not apply loader hooks registered with `--import` (tsx's, say) to `import()` in
      // a worker thread, but a CommonJS `require` hook still works there: try it for a `.ts` file.
      if ((error as { code?: unknown }).code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !url.startsWith('file:')) throw error;
      try {
        return createRequire(import.meta.url)(fileURLToPath(url)) as Record<string, unknown>;
      } catch {
        throw error; // no such hook: "Unknown file extension" says more than a syntax error would
      }
    });
    modules.set(url, module);
    // Forget a failed import, so a later task tries again (the file may exist by then).
    module.catch(() => modules.delete(url));
  }
  return module;
}

/**
 * @internal
 * Runs one task. Piscina calls this (the module's default export) in the worker thread.
 *
 * The task's `signal` here never aborts: cancelling terminates the whole thread instead, which
 * also stops code that never looks at a signal.
 */
export default async function runExport(request: WorkerRequest): Promise<WorkerResponse> {
  const { url, exportName, args, taskId, attempt, runId } = request;
  let progress = 0;
  let fn: unknown;
  try {
    const module = await load(url);
    fn = module[exportName];
    if (typeof fn !== 'function') {
      const exported = Object.keys(module).filter((key) => typeof module[key] === 'function');
      return {
        progress,
        ok: false,
        load: `it has no exported function "${exportName}" (${
          exportName in module ? `that export is ${describe(fn)}` : `its exported functions: ${exported.join(', ') || 'none'}`
        })`,
      };
    }
  } catch (error) {
    let reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if ((error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      reason += ` (compile it to JavaScript, or start the process with tsx, or give the pool execArgv: ['--import', 'tsx'])`;
    }
    return { progress, ok: false, load: reason };
  }
  const context: TaskContext = {
    taskId,
    attempt,
    signal: new AbortController().signal,
    reportProgress(fraction, message) {
      if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
        throw new RangeError(`Expected \`fraction\` to be a number from 0 to 1, got ${describe(fraction)}`);
      }
      if (message !== undefined && typeof message !== 'string') {
        throw new TypeError(`Expected \`message\` to be a string, got ${describe(message)}`);
      }
      parentPort?.postMessage({ [RUN_KEY]: runId, fraction, message } satisfies ProgressMessage);
      progress += 1;
    },
  };
  try {
    const value = await (fn as (...a: unknown[]) => unknown)(...args, context);
    const problem = findUncloneable(value, 'result');
    if (problem) {
      throw new TypeError(
        `The result of "${exportName}" cannot be copied back to the main thread: ${problem}. Return plain data (objects, arrays, strings, numbers, typed arrays, Maps, Sets, Dates)`,
      );
    }
    return { progress, ok: true, value };
  } catch (error) {
    if (error instanceof Error) return { progress, ok: false, error: serializeError(error, 0) };
    if (findUncloneable(error, 'value') === undefined) return { progress, ok: false, thrown: error };
    // A thrown value that cannot cross (a symbol, a function): described once, as the message of
    // the failure, rather than as a string the main thread would describe a second time.
    const failure = new TypeError(
      `"${exportName}" threw ${describe(error)}, which cannot be copied back to the main thread; throw an Error instead`,
    );
    return { progress, ok: false, error: serializeError(failure, 0) };
  }
}

function serializeError(error: Error, depth: number): SerializedError {
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (key !== 'cause' && findUncloneable(value, key) === undefined) props[key] = value;
  }
  const serialized: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
    name: String(error.name),
    message: String(error.message),
    stack: typeof error.stack === 'string' ? error.stack : undefined,
    props,
    nonRetryable: isNonRetryable(error),
  };
  if ('cause' in error && depth < 8) {
    const { cause } = error;
    serialized.cause = cause instanceof Error ? { error: serializeError(cause, depth + 1) } : { value: cloneable(cause) };
  }
  return serialized;
}

/** A thrown non-Error value, or its description when it cannot cross. */
function cloneable(value: unknown): unknown {
  return findUncloneable(value, 'value') === undefined ? value : describe(value);
}
