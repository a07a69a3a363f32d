import type { TaskId } from '../types.js';
import type { RunnerView, TaskDetailView, TaskView, TransitionView } from './views.js';

/** A change the page must see: one per transition, coalesced progress, or the runner panel. */
export type SourceMessage =
  | ({ type: 'transition'; task: TaskView } & Omit<TransitionView, never>)
  | { type: 'progress'; task: TaskView }
  | { type: 'runner'; runner: RunnerView };

/**
 * What the dashboard shows and acts on. `serveDashboard(runner)` builds one over a runner's public
 * API; `tasklane dashboard --db` builds one over a SQLite store. Implement it to put the page over
 * anything else.
 */
export interface DashboardSource {
  /** Every task held now, oldest first. */
  tasks(): TaskView[];
  /** One task in full, or `undefined`. */
  task(id: TaskId): TaskDetailView | undefined;
  /** The runner panel's numbers now. */
  runner(): RunnerView;
  /** Asks for a cancel; resolves whether the task was active and the cancel was taken. */
  cancel(id: TaskId): Promise<boolean>;
  /** Absent when the source cannot be paused (a store's history). */
  pause?(): void;
  resume?(): void;
  setConcurrency?(n: number): void;
  /** Delivers every change, in order, until the returned function is called. */
  subscribe(listener: (message: SourceMessage) => void): () => void;
}
