import type { AnyStateMachine } from 'xstate';
import type { TaskMachineContext, TaskSnapshot } from './task-machine.js';
import type { TaskStatus } from '../types.js';

/**
 * @internal
 * Genuine `taskMachine` snapshots for tasks without an actor. xstate's snapshot is a plain object
 * whose methods (`matches`, `can`, `hasTag`, `getMeta`, `toJSON`) read `this`; the machine resolves
 * one template per state once (`resolveState`), and a task's snapshot is that template with the
 * task's context, which is what xstate's own `cloneMachineSnapshot` does. No actor, no per-task
 * entry anywhere: the templates are per machine and per state.
 */
export function createSnapshotSource(machine: AnyStateMachine): (status: TaskStatus, context: TaskMachineContext) => TaskSnapshot {
  const templates = new Map<TaskStatus, TaskSnapshot>();
  return (status, context) => {
    let template = templates.get(status);
    if (template === undefined) {
      // Resolved with this context, then kept without it, so no task's data outlives the task here.
      template = { ...(machine.resolveState({ value: status, context }) as TaskSnapshot), context: undefined as never };
      templates.set(status, template);
    }
    return { ...template, context };
  };
}
