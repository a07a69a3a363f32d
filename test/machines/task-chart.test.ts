import fc from 'fast-check';
import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { taskMachine } from '../../src/index.js';
import { taskMachineWithoutExecute } from '../../src/machines/task-machine.js';
import { stepTask, taskChart, taskGuards, taskTimers, taskUpdates } from '../../src/machines/task-chart.js';
import type { TaskStatus } from '../../src/types.js';
import { comparable, event, input } from './task-arbitraries.js';

describe('taskChart', () => {
  describe('when random events drive the stepper and the machine', () => {
    const machines = [
      ['taskMachine', taskMachine],
      ["the runner's machine (no execute child)", taskMachineWithoutExecute],
    ] as const;

    it.each(machines)(
      "reaches the same state and context as xstate's pure transition() of %s, after every event, copying or in place",
      (_name, machine) => {
        fc.assert(
          fc.property(input, fc.array(event, { maxLength: 30 }), (taskInput, events) => {
            let [snapshot] = initialTransition(machine, taskInput);
            let status: TaskStatus = taskChart.initial;
            let context = snapshot.context;
            // The runner's second way: changes of state written into the context itself.
            let inPlaceStatus: TaskStatus = taskChart.initial;
            let inPlaceContext = { ...snapshot.context };
            expect(snapshot.value).toBe(status);
            for (const e of events) {
              [snapshot] = transition(machine, snapshot, e);
              // Frozen: the copying way must never write into the context it was given.
              const next = stepTask(status, Object.freeze(context), e);
              if (next) [status, context] = next;
              const inPlace = stepTask(inPlaceStatus, inPlaceContext, e, true);
              if (inPlace) [inPlaceStatus, inPlaceContext] = inPlace;
              expect(snapshot.value).toBe(status);
              expect(comparable(snapshot.context)).toEqual(comparable(context));
              expect(inPlaceStatus).toBe(status);
              expect(comparable(inPlaceContext)).toEqual(comparable(context));
              expect(snapshot.status === 'done').toBe(taskChart.states[status].final === true);
            }
          }),
          { numRuns: 1_000 },
        );
      },
    );

    it.each(machines)('schedules the timers the chart names, with the chart’s delays (%s)', (_name, machine) => {
      fc.assert(
        fc.property(input, fc.array(event, { maxLength: 20 }), (taskInput, events) => {
          let [snapshot] = initialTransition(machine, taskInput);
          for (const e of events) {
            const before = snapshot.value as TaskStatus;
            let actions;
            [snapshot, actions] = transition(machine, snapshot, e);
            const entered = snapshot.value as TaskStatus;
            const raised = actions.filter((a) => a.type === 'xstate.raise').map((a) => a.params as { id: string; delay: number });
            const after = taskChart.states[entered].after;
            // A timer is armed exactly when a state that has one is entered and its delay is defined.
            const timer = after === undefined ? undefined : taskTimers[after];
            const delay = timer?.delay(snapshot.context);
            if (before !== entered && timer !== undefined && delay !== undefined) {
              expect(raised).toEqual([expect.objectContaining({ id: timer.id, delay })]);
            } else {
              expect(raised).toEqual([]);
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('its table', () => {
    it('names only guards, updates and timers that exist, and targets only states that exist', () => {
      for (const state of Object.values(taskChart.states)) {
        if (state.after !== undefined) expect(taskTimers).toHaveProperty(state.after);
        for (const transitions of Object.values(state.on)) {
          for (const t of transitions ?? []) {
            if (t.guard !== undefined) expect(taskGuards).toHaveProperty(t.guard);
            expect(taskUpdates).toHaveProperty(t.update);
            if (t.target !== undefined) expect(taskChart.states).toHaveProperty(t.target);
          }
        }
      }
    });

    it('gives final states no transitions and every active state cancel and lose', () => {
      for (const [name, state] of Object.entries(taskChart.states)) {
        if (state.final) expect(state.on).toEqual({});
        else expect(Object.keys(state.on)).toEqual(expect.arrayContaining(['cancel', 'lose']));
        expect(taskMachine.states[name]!.type === 'final').toBe(state.final === true);
      }
    });
  });
});
