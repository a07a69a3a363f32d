import fc from 'fast-check';
import { createActor, SimulatedClock } from 'xstate';
import type { AnyActorRef, EventObject, InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { initialTaskContext } from '../../src/machines/task-chart.js';
import type { TaskMachineContext } from '../../src/machines/task-chart.js';
import { taskActorLogic, taskSnapshotOf } from '../../src/machines/task-logic.js';
import { taskMachineWithoutExecute } from '../../src/machines/task-machine.js';
import type { TaskSnapshot } from '../../src/machines/task-machine.js';
import { comparable, event, input } from './task-arbitraries.js';

/** One step of a run: an event sent, time passing on the system's clock, or the actor stopped. */
type Step = { send: EventObject } | { advance: number } | { stop: true };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: event.map((e) => ({ send: e })) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 12_000 }).map((ms) => ({ advance: ms })) },
  // Events the chart does not know, and an error from a child no transition handles.
  { weight: 1, arbitrary: fc.constantFrom({ type: 'bogus' }, { type: 'constructor' }, { type: 'toString' }).map((e) => ({ send: e })) },
  { weight: 1, arbitrary: fc.string().map((message) => ({ send: { type: 'xstate.error.actor.child', error: new Error(message) } })) },
  { weight: 1, arbitrary: fc.constant({ stop: true as const }) },
);

/** An inspection event as data: what each way must report alike. */
function plain(e: InspectionEvent, self: AnyActorRef) {
  const snapshotOf = (s: unknown) => {
    const snap = s as TaskSnapshot;
    return { value: snap.value, status: snap.status, context: comparable(snap.context) };
  };
  switch (e.type) {
    case '@xstate.actor':
      return { type: e.type, self: e.actorRef === self };
    case '@xstate.event':
      return { type: e.type, event: e.event, self: e.actorRef === self, fromSelf: e.sourceRef === self };
    case '@xstate.snapshot':
      return { type: e.type, event: e.event.type, snapshot: snapshotOf(e.snapshot) };
    case '@xstate.microstep':
      return {
        type: e.type,
        event: e.event.type,
        snapshot: snapshotOf(e.snapshot),
        transitions: e._transitions.map((t) => `${t.source.id} -${t.eventType}-> ${(t.target ?? []).map((s) => s.id).join(',')}`),
      };
    case '@xstate.action':
      return { type: e.type, action: e.action };
  }
}

/** A root actor of `logic` in the chart's initial state, on its own simulated clock and inspector. */
function start(logic: typeof taskActorLogic, context: TaskMachineContext, snapshot: TaskSnapshot) {
  const clock = new SimulatedClock();
  const seen: InspectionEvent[] = [];
  const actor = createActor(logic, { snapshot, clock, inspect: (e) => void seen.push(e), input: context });
  // An actor that ends in `error` reports it to its observers; without one xstate rethrows it.
  actor.subscribe({ error: () => {} });
  actor.start();
  return { actor, clock, seen };
}

describe('taskActorLogic (the runner task actors’ logic)', () => {
  it('is the machine itself to anyone reading it', () => {
    expect(Object.getPrototypeOf(taskActorLogic)).toBe(taskMachineWithoutExecute);
    expect(taskActorLogic.config).toBe(taskMachineWithoutExecute.config);
    expect(taskActorLogic.id).toBe('task');
  });

  it("goes through the same snapshots, timers and inspection events as xstate's own machine, for any run", () => {
    fc.assert(
      fc.property(input, fc.array(step, { maxLength: 25 }), (taskInput, steps) => {
        const context = initialTaskContext(taskInput);
        const machine = start(taskMachineWithoutExecute, context, taskMachineWithoutExecute.resolveState({ value: 'pending', context }));
        const chart = start(taskActorLogic, context, taskSnapshotOf('pending', context));
        const both = [machine, chart];
        for (const s of steps) {
          for (const run of both) {
            if ('send' in s) run.actor.send(s.send as never);
            else if ('advance' in s) run.clock.increment(s.advance);
            else run.actor.stop();
          }
          const [a, b] = [machine.actor.getSnapshot(), chart.actor.getSnapshot()];
          expect(b.value).toBe(a.value);
          expect(b.status).toBe(a.status);
          expect(comparable(b.context)).toEqual(comparable(a.context));
          expect(b.error).toEqual(a.error);
          // A genuine machine snapshot: its methods answer as the machine's do.
          // The same state nodes (xstate leaves a final snapshot's list sorted for its exit actions).
          const ids = (snap: TaskSnapshot) => snap._nodes.map((n) => n.id).sort();
          expect(ids(b)).toEqual(ids(a));
          expect(b.can({ type: 'cancel', at: 0 })).toBe(a.can({ type: 'cancel', at: 0 }));
          expect(b.matches(a.value)).toBe(true);
          // The same delayed events pending on each system's scheduler (`startedAt` is xstate's
          // `Date.now()`, not the clock's).
          const pending = (run: typeof machine) =>
            Object.values(run.actor.system.getSnapshot()._scheduledEvents).map(({ id, event: e, delay }) => ({ id, event: e, delay }));
          expect(pending(chart)).toEqual(pending(machine));
          expect(chart.seen.map((e) => plain(e, chart.actor))).toEqual(machine.seen.map((e) => plain(e, machine.actor)));
          if (a.status !== 'active') break;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('restores its own snapshots as they are, and anything else through the machine', () => {
    const context = initialTaskContext({ taskId: 't1', name: 't1', timeout: undefined, metadata: {}, createdAt: 0, work: null });
    const own = taskSnapshotOf('running', context);
    const actor = createActor(taskActorLogic, { snapshot: own, input: context });
    expect(actor.getSnapshot()).toBe(own);
    const persisted = taskMachineWithoutExecute.getPersistedSnapshot(
      taskMachineWithoutExecute.resolveState({ value: 'retrying', context }),
    );
    const restored = createActor(taskActorLogic, { snapshot: persisted, input: context }).getSnapshot();
    expect(restored.value).toBe('retrying');
    expect(restored.matches('retrying')).toBe(true);
    expect(restored.context.taskId).toBe('t1');
  });
});
