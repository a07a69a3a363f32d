export { BackgroundRunner } from './runner/background-runner.js';
export type { RecoverResult, SubmitAgentOptions } from './runner/background-runner.js';
export { BackgroundTask } from './runner/background-task.js';
export type { TaskRecord } from './runner/background-task.js';
export type { BackgroundConfig, RunnerClock, RunnerConfig, StreamItem, SubmitOptions, TaskResult } from './runner/options.js';
export type { RunnerEventName, RunnerEvents, TransitionEvent } from './runner/events.js';
export type { TaskRegistry, TaskRegistryContext, TaskSummary } from './runner/registry.js';
export { taskMachine } from './machines/task-machine.js';
export { backoffDelay } from './machines/task-machine.js';
export type {
  AttemptRecord,
  Backoff,
  ExecuteInput,
  TaskActor,
  TaskMachineContext,
  TaskMachineEvent,
  TaskMachineInput,
  TaskSnapshot,
} from './machines/task-machine.js';
export { supervisorMachine } from './machines/supervisor-machine.js';
export type {
  SupervisorActor,
  SupervisorContext,
  SupervisorEmitted,
  SupervisorEvent,
  SupervisorInput,
  QueuedTask,
  RateLimit,
} from './machines/supervisor-machine.js';
export type { AgentLike } from './actors/run-agent.js';
export type { CorruptRecord, NotJsonMarker, StoredError, StoredTask, StoreOwner, TaskStore, WriteIssue } from './store/task-store.js';
export {
  NonRetryableError,
  QueueFullError,
  RunnerError,
  RunnerStoppedError,
  StoreLockedError,
  TaskCancelledError,
  TaskFailedError,
  TaskLostError,
  TaskTimeoutError,
  UnknownHandlerError,
  WaitTimeoutError,
  isRunnerError,
} from './errors.js';
export { TaskStatus } from './types.js';
export type { FinalTaskStatus, TaskContext, TaskFunction, TaskId } from './types.js';
export { backgroundRunnerLogic } from './runner/runner-logic.js';
export type {
  RunnerCancelEvent,
  RunnerLogic,
  RunnerLogicContext,
  RunnerLogicEmitted,
  RunnerLogicEvent,
  RunnerLogicInput,
  RunnerLogicSnapshot,
  RunnerLogicSubmitOptions,
  RunnerLogicWork,
  RunnerSubmitEvent,
  TaskCancelledEvent,
  TaskCompletedEvent,
  TaskFailedEvent,
  TaskProgressEvent,
  TaskRejectedEvent,
  TaskRetryingEvent,
  TaskStartedEvent,
  TaskSubmittedEvent,
} from './runner/runner-logic.js';
