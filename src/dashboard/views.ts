/**
 * What the dashboard sends to the page: plain JSON views of tasks and of the runner, and the
 * helpers that make them (truncation and the optional `redact`). One home for the wire format.
 */
import type { TaskId, TaskStatus } from '../types.js';

/** One row of the task table. Times are epoch milliseconds. */
export interface TaskView {
  id: TaskId;
  name: string;
  status: TaskStatus;
  /** 0..1 */
  progress: number;
  message: string | null;
  /** The current or last attempt, 1-based; 0 before the first start. */
  attempt: number;
  /** How many items the work has streamed in its current attempt. */
  chunks: number;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  /** Why the task did not complete (name and message, truncated and redacted). */
  error: { name: string; message: string } | null;
}

/** One entry of a task's transition log. */
export interface TransitionView {
  from: TaskStatus | null;
  to: TaskStatus;
  event: string;
  at: number;
  attempt: number;
}

/** One failed attempt. */
export interface AttemptView {
  attempt: number;
  startedAt: number;
  completedAt: number;
  error: { name: string; message: string };
}

/** A task in full, for the detail view. */
export interface TaskDetailView extends TaskView {
  /** The transitions seen since the dashboard started watching (or rebuilt from timestamps). */
  transitions: TransitionView[];
  attempts: AttemptView[];
  /** The last streamed items, newest last, as truncated text. */
  recentChunks: string[];
  /** The result as truncated JSON text, or `null`. */
  result: string | null;
  metadata: string | null;
}

/** The runner panel. */
export interface RunnerView {
  /** Whether the page may act (cancel, pause, resume, concurrency). */
  readOnly: boolean;
  /** Whether pause/resume/concurrency are available at all (not for a store's history). */
  controllable: boolean;
  paused: boolean;
  concurrency: number | null;
  running: number;
  pending: number;
  retrying: number;
  /** `rateLimit` in force, if any, and how many tasks started within its window. */
  rate: { max: number; interval: number; used: number } | null;
}

/** What the dashboard may pass through `redact` before showing a value. */
export type RedactField = 'result' | 'error' | 'message' | 'chunk' | 'metadata';

/** How values are turned into text for the page. */
export interface Render {
  /** Longest text shown for one value, in characters. */
  readonly maxLength: number;
  readonly redact: ((value: unknown, field: RedactField) => unknown) | undefined;
}

/** Cuts `text` to `max` characters, marking the cut. */
function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** A value as text for the page: redacted, JSON where possible, truncated. Never throws. */
export function showValue(value: unknown, field: RedactField, render: Render): string | null {
  let shown = value;
  if (render.redact) {
    try {
      shown = render.redact(value, field);
    } catch {
      return '[redact threw]';
    }
  }
  if (shown === undefined) return null;
  if (typeof shown === 'string') return truncate(shown, render.maxLength);
  try {
    const json = JSON.stringify(shown, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    return truncate(json ?? String(shown), render.maxLength);
  } catch {
    return truncate(String(shown), render.maxLength);
  }
}

/** An error as `{ name, message }` for the page, redacted and truncated. */
export function showError(error: unknown, render: Render): { name: string; message: string } | null {
  if (error === undefined || error === null) return null;
  const name =
    error instanceof Error
      ? error.name
      : typeof (error as { name?: unknown }).name === 'string'
        ? (error as { name: string }).name
        : 'Error';
  const raw = error instanceof Error ? error.message : (error as { message?: unknown }).message;
  const message = showValue(typeof raw === 'string' ? raw : String(raw ?? ''), 'error', render) ?? '';
  return { name: truncate(name, 200), message };
}
