/**
 * What crosses Redis between a client and a worker: errors (as JSON in the job's `failedReason`),
 * progress reports, and the mapping of tasklane's priority onto BullMQ's.
 */
import { NonRetryableError, RunnerError, TaskFailedError, TaskLostError, TaskTimeoutError } from '../../errors.js';
import type { TaskId } from '../../types.js';

/** Marks a `failedReason` that tasklane wrote, so a foreign one is still read as a plain message. */
const MARK = 'tasklane:';

/** An error as JSON: its class name, message, stack and the fields its class carries. */
interface WireError {
  name: string;
  message: string;
  stack?: string | undefined;
  timeoutMs?: number | undefined;
  reason?: string | undefined;
}

/** @internal Encodes an error for a job's `failedReason`. */
export function encodeError(error: Error, extra: { reason?: string | undefined } = {}): string {
  const wire: WireError = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof TaskTimeoutError) wire.timeoutMs = error.timeoutMs;
  if (extra.reason !== undefined) wire.reason = extra.reason;
  return MARK + JSON.stringify(wire);
}

/** BullMQ's own reason for a job that stalled more than `maxStalledCount` times. */
const STALLED = /stalled more than allowable limit/;

/** @internal What a failed job's `failedReason` says, as tasklane's own error classes. */
export type DecodedFailure =
  { kind: 'cancelled'; reason: string | undefined } | { kind: 'lost'; error: TaskLostError } | { kind: 'error'; error: Error };

/** @internal Decodes a `failedReason` written by {@link encodeError} (or by BullMQ itself). */
export function decodeFailure(taskId: TaskId, failedReason: string | undefined): DecodedFailure {
  const text = failedReason ?? '';
  let wire: WireError;
  if (text.startsWith(MARK)) {
    try {
      wire = JSON.parse(text.slice(MARK.length)) as WireError;
    } catch {
      wire = { name: 'Error', message: text };
    }
  } else if (STALLED.test(text)) {
    const error = new TaskLostError(taskId, 'running', 'mark-lost');
    setMessage(error, `Task "${taskId}" was running on a worker that stopped answering (${text}); it was not run again`);
    return { kind: 'lost', error };
  } else {
    wire = { name: 'Error', message: text };
  }
  if (wire.name === 'TaskCancelledError') return { kind: 'cancelled', reason: wire.reason };
  return { kind: 'error', error: revive(taskId, wire) };
}

/** The same class as the worker's error where tasklane knows it, else an `Error` with its name. */
function revive(taskId: TaskId, wire: WireError): Error {
  let error: Error;
  switch (wire.name) {
    case 'TaskTimeoutError':
      error = new TaskTimeoutError(taskId, wire.timeoutMs ?? 0);
      break;
    case 'NonRetryableError':
      error = new NonRetryableError(wire.message);
      break;
    case 'TaskFailedError':
      error = new TaskFailedError(taskId, wire.message);
      break;
    case 'RunnerError':
      error = new RunnerError(wire.message);
      break;
    default:
      error = new Error(wire.message);
      error.name = wire.name;
  }
  setMessage(error, wire.message);
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

function setMessage(error: Error, message: string): void {
  Object.defineProperty(error, 'message', { value: message, writable: true, configurable: true, enumerable: false });
}

/**
 * @internal
 * tasklane's priority (higher first, any finite number, 0 by default) as BullMQ's (lower first,
 * 1 to 2^21 − 1; 0 means none). BullMQ serves jobs without a priority before every prioritized
 * one, so every tasklane task is prioritized: 0 maps to the middle of BullMQ's range.
 */
export function toBullmqPriority(priority: number): number {
  return Math.min(MAX_PRIORITY, Math.max(1, PRIORITY_ZERO - Math.round(priority)));
}

const MAX_PRIORITY = 2_097_151;
const PRIORITY_ZERO = 1_048_576;

/** @internal A progress report as it travels in a job's progress field. */
export interface WireProgress {
  /** The fraction, when one was reported since the last write. */
  f?: number;
  /** The message, when one was reported since the last write. */
  m?: string;
  /** Items streamed since the last write, in order. */
  c?: unknown[];
}

/** @internal Whether a job's progress value is one tasklane wrote. */
export function isWireProgress(value: unknown): value is WireProgress {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
