import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { supervisorMachine } from '../../src/index.js';
import type { QueuedTask } from '../../src/index.js';

const q = (...ids: string[]): QueuedTask[] => ids.map((taskId) => ({ taskId, priority: 0, group: undefined, seq: 0 }));

function start(options: { maxConcurrentTasks?: number; autoCleanup?: boolean; cleanupDelay?: number } = {}) {
  const clock = new SimulatedClock();
  const actor = createActor(supervisorMachine, {
    input: { maxConcurrentTasks: 2, autoCleanup: true, cleanupDelay: 1_000, now: 0, ...options },
    clock,
  });
  const admitted: string[] = [];
  const removed: string[] = [];
  actor.on('admit', ({ tasks }) => admitted.push(...tasks.map((entry) => entry.taskId)));
  actor.on('remove', ({ tasks }) => removed.push(...tasks.map((entry) => entry.taskId)));
  actor.start();
  // Facts name a task by the entry it was submitted with, as the runner does; here by its id.
  const entries = new Map<string, QueuedTask>();
  const sync = (event: { submitted?: QueuedTask[]; withdrawn?: (string | QueuedTask)[]; settled?: string[] }) => {
    for (const entry of event.submitted ?? []) entries.set(entry.taskId, entry);
    const entryOf = (task: string | QueuedTask) => (typeof task === 'string' ? entries.get(task)! : task);
    actor.send({
      type: 'sync',
      submitted: event.submitted ?? [],
      withdrawn: (event.withdrawn ?? []).map(entryOf),
      settled: (event.settled ?? []).map(entryOf),
      at: clock.now(),
    });
  };
  return { actor, clock, admitted, removed, sync };
}

describe('supervisorMachine', () => {
  it('admits in FIFO order while fewer than maxConcurrentTasks run', () => {
    const { admitted, sync, actor } = start({ maxConcurrentTasks: 2 });
    sync({ submitted: q('a', 'b', 'c', 'd') });
    expect(admitted).toEqual(['a', 'b']);
    expect(actor.getSnapshot().context.running).toBe(2);
    sync({ settled: ['b'] });
    expect(admitted).toEqual(['a', 'b', 'c']);
    sync({ settled: ['a', 'c'] });
    expect(admitted).toEqual(['a', 'b', 'c', 'd']);
    expect(actor.getSnapshot().context.running).toBe(1);
  });

  it('never admits a task withdrawn while it waited', () => {
    const { admitted, sync } = start({ maxConcurrentTasks: 1 });
    const entries = q('a', 'b', 'c');
    sync({ submitted: entries });
    sync({ withdrawn: [entries[1]!] }); // the entry the task was submitted with
    sync({ settled: ['a'] });
    expect(admitted).toEqual(['a', 'c']);
  });

  it('handles a task submitted and withdrawn in the same batch', () => {
    const { admitted, sync, actor } = start({ maxConcurrentTasks: 1 });
    const entries = q('a', 'b');
    sync({ submitted: entries, withdrawn: [entries[0]!] });
    expect(admitted).toEqual(['b']);
    expect(actor.getSnapshot().context.pending.size).toBe(0);
  });

  describe('with autoCleanup', () => {
    it('removes a finished task exactly cleanupDelay ms after it finished', () => {
      const { clock, removed, sync } = start({ cleanupDelay: 1_000 });
      sync({ submitted: q('a', 'b') });
      clock.increment(10);
      sync({ settled: ['a'] });
      clock.increment(300);
      sync({ settled: ['b'] });
      clock.increment(699); // t = 1009
      expect(removed).toEqual([]);
      clock.increment(1); // t = 1010: a finished at 10
      expect(removed).toEqual(['a']);
      clock.increment(299); // t = 1309
      expect(removed).toEqual(['a']);
      clock.increment(1); // t = 1310: b finished at 310
      expect(removed).toEqual(['a', 'b']);
    });

    it('uses one timer for any number of finished tasks', () => {
      const timers: number[] = [];
      const clock = new SimulatedClock();
      const counting = {
        setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
          timers.push(ms);
          return clock.setTimeout(fn, ms);
        },
        clearTimeout: (id: unknown) => clock.clearTimeout(id as number),
      };
      const actor = createActor(supervisorMachine, {
        input: { maxConcurrentTasks: 1_000, autoCleanup: true, cleanupDelay: 500, now: 0 },
        clock: counting,
      }).start();
      const entries = q(...Array.from({ length: 1_000 }, (_, i) => `t${i}`));
      actor.send({ type: 'sync', submitted: entries, withdrawn: [], settled: [], at: 0 });
      for (const entry of entries) actor.send({ type: 'sync', submitted: q(), withdrawn: [], settled: [entry], at: 0 });
      expect(timers).toEqual([500]);
    });
  });

  it('removes nothing without autoCleanup', () => {
    const { clock, removed, sync } = start({ autoCleanup: false });
    sync({ submitted: q('a') });
    sync({ settled: ['a'] });
    clock.increment(10_000_000);
    expect(removed).toEqual([]);
  });

  it('stops in a final state, with its cleanup timer cancelled and queues cleared', () => {
    const { actor, clock, removed, sync } = start({ maxConcurrentTasks: 1 });
    sync({ submitted: q('a', 'b') });
    sync({ settled: ['a'] });
    actor.send({ type: 'stop' });
    clock.increment(5_000);
    expect(actor.getSnapshot().status).toBe('done');
    expect(removed).toEqual([]);
    expect(actor.getSnapshot().context.pending.size).toBe(0);
  });
});
