import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BackgroundTask } from '../../src/index.js';
import { TaskTable } from '../../src/runner/task-table.js';

// The table keeps new tasks in a list and builds its id index only when asked by id: two places a
// task can be. These properties hold it equal to a plain insertion-ordered Map under any mix of
// adds, deletes (in order, out of order, twice) and lookups, across the list's compactions.

interface FakeTask {
  readonly id: string;
  _slot: 0 | 1 | 2;
  readonly status: 'completed';
  readonly isCompleted: true;
}

const fake = (n: number): FakeTask => ({ id: `task-${n}`, _slot: 0, status: 'completed', isCompleted: true });

type Op = { kind: 'add' } | { kind: 'addMany'; count: number } | { kind: 'delete' | 'deleteOldest' | 'get' | 'getMissing'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'add' as const }) },
  // Enough at once to cross the list's compaction thresholds (1,024 entries).
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('addMany' as const), count: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('delete' as const, 'deleteOldest' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('get' as const, 'getMissing' as const), pick: fc.nat() }) },
);

describe('TaskTable (a lazily built id index)', () => {
  it('holds the same tasks, in submission order, as a Map would, whatever is added, deleted or looked up', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const table = new TaskTable();
        const model = new Map<string, FakeTask>();
        const ever: FakeTask[] = [];
        let next = 0;
        const add = () => {
          const task = fake(next++);
          ever.push(task);
          table.add(task as unknown as BackgroundTask);
          model.set(task.id, task);
        };
        for (const step of ops) {
          if (step.kind === 'add') add();
          else if (step.kind === 'addMany') for (let i = 0; i < step.count; i += 1) add();
          else if (step.kind === 'delete' || step.kind === 'deleteOldest') {
            if (ever.length === 0) continue;
            // Any task ever added, held or not (a second delete is a no-op that says false).
            const task = step.kind === 'deleteOldest' ? ([...model.values()][0] ?? ever[0]!) : ever[step.pick % ever.length]!;
            expect(table.delete(task as unknown as BackgroundTask)).toBe(model.delete(task.id));
          } else if (step.kind === 'get') {
            if (ever.length === 0) continue;
            const task = ever[step.pick % ever.length]!;
            expect(table.get(task.id)).toBe(model.get(task.id));
            expect(table.has(task.id)).toBe(model.has(task.id));
          } else {
            expect(table.get(`missing-${step.pick}`)).toBeUndefined();
          }
          expect(table.size).toBe(model.size);
        }
        expect(table.all()).toEqual([...model.values()]);
        for (const task of ever) expect(table.get(task.id)).toBe(model.get(task.id));
      }),
      { numRuns: 400 },
    );
  });

  it('keeps the tasks after a hole when the ones before it finish (a hole skipped at the front is no longer counted)', () => {
    const table = new TaskTable();
    const [a, b, c, d] = [fake(0), fake(1), fake(2), fake(3)];
    for (const task of [a, b, c, d]) table.add(task as unknown as BackgroundTask);
    table.delete(b as unknown as BackgroundTask); // out of order: a hole
    table.delete(a as unknown as BackgroundTask); // the front: the hole goes with it
    expect(table.all()).toEqual([c, d]);
    table.delete(c as unknown as BackgroundTask);
    expect(table.all()).toEqual([d]);
    expect(table.get(d.id)).toBe(d);
  });

  it('never builds the index while nothing asks by id, and drops finished tasks from the front', () => {
    const table = new TaskTable();
    const tasks = Array.from({ length: 5_000 }, (_, i) => fake(i));
    for (const task of tasks) table.add(task as unknown as BackgroundTask);
    expect(tasks.every((task) => task._slot === 1)).toBe(true);
    for (const task of tasks.slice(0, 4_999)) table.delete(task as unknown as BackgroundTask);
    expect(table.size).toBe(1);
    expect(table.all()).toEqual([tasks[4_999]]);
    expect(table.get(tasks[4_999]!.id)).toBe(tasks[4_999]);
    expect(tasks[4_999]!._slot).toBe(2); // indexed once asked
  });
});
