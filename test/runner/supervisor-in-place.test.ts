import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { supervisorMachine, syncInPlace } from '../../src/machines/supervisor-machine.js';
import type { SupervisorInput, SupervisorOutbox } from '../../src/machines/supervisor-machine.js';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { applyControl, controlOps, endAttempt, openGate } from '../helpers/ops.js';
import type { ControlOp, Watched } from '../helpers/ops.js';
import { deferred } from '../helpers/tasks.js';
import type { Deferred } from '../helpers/tasks.js';

const input = (over: Partial<SupervisorInput> = {}): SupervisorInput => ({
  maxConcurrentTasks: 2,
  autoCleanup: true,
  cleanupDelay: 0,
  now: 0,
  ...over,
});

const queued = (taskId: string) => ({ taskId, priority: 0, group: undefined, seq: 0 });
type Entry = ReturnType<typeof queued>;
// Facts name a task by the entry it was submitted with, as the runner does.
const sync = (over: { submitted?: Entry[]; withdrawn?: Entry[]; settled?: Entry[]; at?: number }) => ({
  type: 'sync' as const,
  submitted: over.submitted ?? [],
  withdrawn: over.withdrawn ?? [],
  settled: over.settled ?? [],
  at: over.at ?? 0,
});

function recorder(): SupervisorOutbox & { log: string[] } {
  const log: string[] = [];
  const ids = (tasks: { taskId: string }[]) => tasks.map((entry) => entry.taskId).join(',');
  return { log, admit: (tasks) => log.push(`admit ${ids(tasks)}`), remove: (tasks) => log.push(`remove ${ids(tasks)}`) };
}

describe('syncInPlace (the supervisor’s sync without an xstate macrostep)', () => {
  it('applies a sync exactly as the machine does: same admissions, same counters, remove before admit', () => {
    const direct = createActor(supervisorMachine, { input: input() }).start();
    const machine = createActor(supervisorMachine, { input: input() }).start();
    const viaMachine: string[] = [];
    const ids = (tasks: { taskId: string }[]) => tasks.map((entry) => entry.taskId).join(',');
    machine.on('admit', ({ tasks }) => viaMachine.push(`admit ${ids(tasks)}`));
    machine.on('remove', ({ tasks }) => viaMachine.push(`remove ${ids(tasks)}`));
    const outbox = recorder();
    // Each side gets its own entries (the queue marks them), withdrawn as the same objects it was given.
    const events = () => {
      const entries = ['a', 'b', 'c', 'd'].map(queued);
      return [
        sync({ submitted: entries, at: 5 }),
        sync({ settled: [entries[0]!], withdrawn: [entries[2]!], at: 9 }),
        sync({ settled: [entries[1]!, entries[3]!], at: 12 }),
      ];
    };
    const [forDirect, forMachine] = [events(), events()];
    for (let i = 0; i < forDirect.length; i += 1) {
      expect(syncInPlace(direct.getSnapshot(), forDirect[i]!, outbox)).toBe(true);
      machine.send(forMachine[i]!);
    }
    expect(outbox.log).toEqual(['admit a,b', 'remove c,a', 'admit d', 'remove b,d']);
    expect(outbox.log).toEqual(viaMachine);
    const [d, m] = [direct.getSnapshot().context, machine.getSnapshot().context];
    expect([d.running, d.seq, d.now, d.pending.size]).toEqual([m.running, m.seq, m.now, m.pending.size]);
    expect([d.running, d.seq, d.now, d.pending.size]).toEqual([0, 4, 12, 0]);
  });

  it('declines, touching nothing, whatever needs xstate: paused, a rate limit, a cleanup timer to arm, a stopped actor', () => {
    const cases: [string, SupervisorInput, (actor: ReturnType<typeof createActor<typeof supervisorMachine>>) => void][] = [
      ['paused', input(), (a) => a.send({ type: 'pause', at: 0 })],
      ['a rate limit', input({ rateLimit: { max: 1, interval: 100 } }), () => undefined],
      ['a group rate limit', input({ groupRateLimit: { max: 1, interval: 100 } }), () => undefined],
      ['a first finished task with cleanupDelay > 0', input({ cleanupDelay: 1_000 }), () => undefined],
      ['stopped', input(), (a) => a.send({ type: 'stop' })],
    ];
    for (const [label, given, prepare] of cases) {
      const actor = createActor(supervisorMachine, { input: given }).start();
      prepare(actor);
      const before = { ...actor.getSnapshot().context };
      const outbox = recorder();
      const event = label.startsWith('a first') ? sync({ settled: [queued('x')] }) : sync({ submitted: [queued('x')] });
      expect(syncInPlace(actor.getSnapshot(), event, outbox), label).toBe(false);
      expect(outbox.log, label).toEqual([]);
      expect({ ...actor.getSnapshot().context }, label).toEqual(before);
    }
  });

  it('takes finished tasks in place once the cleanup timer is armed, and the timer still removes them', () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const actor = createActor(supervisorMachine, { input: input({ cleanupDelay: 100 }) }).start();
      const removed: string[] = [];
      actor.on('remove', ({ tasks }) => removed.push(...tasks.map((entry) => entry.taskId)));
      const [a, b] = [queued('a'), queued('b')];
      actor.send(sync({ submitted: [a, b] }));
      actor.send(sync({ settled: [a], at: 0 })); // arms the sweep, through the actor
      vi.advanceTimersByTime(50);
      expect(syncInPlace(actor.getSnapshot(), sync({ settled: [b], at: 50 }), recorder())).toBe(true);
      vi.advanceTimersByTime(50);
      expect(removed).toEqual(['a']);
      vi.advanceTimersByTime(49);
      expect(removed).toEqual(['a']);
      vi.advanceTimersByTime(1);
      expect(removed).toEqual(['a', 'b']);
      expect(actor.getSnapshot().context.running).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

type Op = { kind: 'submit'; priority: number } | { kind: 'complete' | 'fail' | 'cancel'; index: number } | ControlOp;

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('submit' as const), priority: fc.integer({ min: -1, max: 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('complete' as const, 'fail' as const, 'cancel' as const), index: fc.nat() }) },
  ...controlOps(2, 150),
);

/** Runs `ops` on a runner and returns what a user sees: the events in order, the registry of tasks, the supervisor's counters. */
async function play(ops: Op[], initial: number, cleanupDelay: number, observe: boolean) {
  // An inspector sends every event through the supervisor actor (and gives every task an actor).
  const runner = new BackgroundRunner({ maxConcurrentTasks: initial, cleanupDelay, inspect: observe ? () => undefined : undefined });
  const seen: string[] = [];
  const index = new Map<string, number>();
  // Checked on this path too, not only compared: never more running than the limit, never a start while paused.
  const watched: Watched = { limit: initial, paused: false };
  let live = 0;
  const violations: string[] = [];
  for (const name of ['started', 'completed', 'failed', 'cancelled'] as const) {
    runner.on(name, ({ task }: { task: BackgroundTask }) => {
      seen.push(`${Date.now()} ${name} ${index.get(task.id)}`);
      if (name === 'started') {
        live += 1;
        if (live > watched.limit) violations.push(`${live} running with a limit of ${watched.limit}`);
        if (watched.paused) violations.push('started while paused');
      } else if (task.startedAt !== undefined) live -= 1;
    });
  }
  const gates: Deferred<string>[][] = [];
  const tasks: BackgroundTask[] = [];
  for (const step of ops) {
    switch (step.kind) {
      case 'submit': {
        const i = tasks.length;
        gates.push([]);
        const task = await runner.submit(
          (_ctx: TaskContext) => {
            return openGate(gates[i]!);
          },
          { priority: step.priority },
        );
        index.set(task.id, i);
        tasks.push(task);
        break;
      }
      case 'complete':
      case 'fail':
      case 'cancel': {
        if (tasks.length === 0) break;
        const i = step.index % tasks.length;
        if (step.kind === 'cancel') await tasks[i]!.cancel();
        else endAttempt(step.kind, i, gates);
        break;
      }
      default:
        await applyControl(runner, step, watched);
    }
    await vi.advanceTimersByTimeAsync(0);
  }
  expect(violations).toEqual([]);
  // Every task ends exactly once, whichever path the supervisor took.
  await runner.cancelAll();
  const finals = seen.filter((line) => !line.includes(' started '));
  expect(finals).toHaveLength(tasks.length);
  expect(new Set(finals.map((line) => line.split(' ')[2])).size).toBe(tasks.length);
  const held = runner.tasks.map((t) => `${index.get(t.id)} ${t.status}`);
  const { running, seq, pending, finished } = runner.supervisor.getSnapshot().context;
  const counters = { running, seq, pending: pending.size, finished: finished.size };
  await runner.stop();
  return { seen, held, counters };
}

describe('reading runner.supervisor', () => {
  it('switches nothing: its context stays current, per-task facts still skip the xstate step', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 2, cleanupDelay: 0 });
    const supervisor = runner.supervisor;
    const steps: unknown[] = [];
    supervisor.subscribe((snapshot) => steps.push(snapshot.value));
    const gate = deferred<string>();
    const tasks = await Promise.all([1, 2, 3, 4].map(() => runner.submit(() => gate.promise)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(supervisor.getSnapshot().context.running).toBe(2);
    expect(supervisor.getSnapshot().context.pending.size).toBe(2);
    gate.resolve('ok');
    await runner.onIdle();
    expect(tasks.map((t) => t.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(supervisor.getSnapshot().context.running).toBe(0);
    expect(steps).toEqual([]); // no macrostep per task
    runner.pause();
    expect(steps).toEqual(['paused']);
    await runner.stop();
  });
});

describe('the in-place sync path (fast-check)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is indistinguishable from sending every sync to the supervisor actor: same events at the same times, same tasks held, same supervisor state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0, 50, 300_000),
        fc.array(op, { minLength: 1, maxLength: 40 }),
        async (initial, cleanupDelay, ops) => {
          vi.setSystemTime(0);
          const inPlace = await play(ops, initial, cleanupDelay, false);
          vi.setSystemTime(0);
          const throughActor = await play(ops, initial, cleanupDelay, true);
          expect(inPlace).toEqual(throughActor);
        },
      ),
      { numRuns: 150 },
    );
  });
});
