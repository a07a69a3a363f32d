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
import type { MessagePort } from 'node:worker_threads';
import { describe, isNonRetryable } from '../errors.js';
import type { TaskContext, TaskId } from '../types.js';
import { findUncloneable } from './cloneable.js';

/** @internal What the main thread posts for one task. */
export interface WorkerRequest {
  /** The module's URL (`file:` or any URL `import()` takes). */
  readonly url: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
  readonly taskId: TaskId;
  readonly attempt: number;
  /** Progress goes out on it; an `abort` message comes in on it. Transferred, closed at the end. */
  readonly port: MessagePort;
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

/** @internal The answer for one task. */
export type WorkerResponse =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: SerializedError }
  | { readonly ok: false; readonly thrown: unknown }
  | { readonly ok: false; readonly load: string };

/** @internal What the worker posts on the task's port. */
export type WorkerMessage = { readonly type: 'progress'; readonly fraction: number; readonly message: string | undefined };

/** @internal What the main thread posts on the task's port. */
export type MainMessage = { readonly type: 'abort'; readonly reason: string };

/** Runs one task. Piscina calls this (the module's default export) in the worker thread. */
export default async function runExport(request: WorkerRequest): Promise<WorkerResponse> {
  const { url, exportName, args, taskId, attempt, port } = request;
  const controller = new AbortController();
  port.on('message', (message: MainMessage) => {
    if (message.type === 'abort') controller.abort(new Error(message.reason));
  });
  try {
    let fn: unknown;
    try {
      const module = (await import(url)) as Record<string, unknown>;
      fn = module[exportName];
      if (typeof fn !== 'function') {
        const exported = Object.keys(module).filter((key) => typeof module[key] === 'function');
        return {
          ok: false,
          load: `it has no exported function "${exportName}" (${
            exportName in module ? `that export is ${describe(fn)}` : `its exported functions: ${exported.join(', ') || 'none'}`
          })`,
        };
      }
    } catch (error) {
      return { ok: false, load: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
    const context: TaskContext = {
      taskId,
      attempt,
      signal: controller.signal,
      reportProgress(fraction, message) {
        if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
          throw new RangeError(`Expected \`fraction\` to be a number from 0 to 1, got ${describe(fraction)}`);
        }
        if (message !== undefined && typeof message !== 'string') {
          throw new TypeError(`Expected \`message\` to be a string, got ${describe(message)}`);
        }
        port.postMessage({ type: 'progress', fraction, message } satisfies WorkerMessage);
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
      return { ok: true, value };
    } catch (error) {
      return error instanceof Error ? { ok: false, error: serializeError(error, 0) } : { ok: false, thrown: cloneable(error) };
    }
  } finally {
    port.close();
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
