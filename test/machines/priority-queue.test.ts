import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { before, PriorityQueue } from '../../src/machines/priority-queue.js';

interface Item {
  readonly priority: number;
  readonly seq: number;
}

/** The model: every queued item, and the next one out is the first by `before`. */
function first(model: Item[]): Item | undefined {
  let best: Item | undefined;
  for (const item of model) if (best === undefined || before(item, best)) best = item;
  return best;
}

type Op = { kind: 'push'; priority: number } | { kind: 'shift' } | { kind: 'giveBack' } | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant<'push'>('push'), priority: fc.integer({ min: -2, max: 2 }) }) },
  { weight: 4, arbitrary: fc.constant<Op>({ kind: 'shift' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'giveBack' }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'clear' }) },
);

describe('PriorityQueue', () => {
  it('hands items out highest priority first, by seq within a priority, for any pushes, shifts and give-backs', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3_000 }), (ops) => {
        const queue = new PriorityQueue<Item>();
        const model: Item[] = [];
        const handedOut: Item[] = [];
        let seq = 0;
        for (const step of ops) {
          if (step.kind === 'push') {
            const item = { priority: step.priority, seq: seq++ };
            queue.push(item);
            model.push(item);
          } else if (step.kind === 'shift') {
            const expected = first(model);
            expect(queue.shift()).toBe(expected);
            if (expected) {
              model.splice(model.indexOf(expected), 1);
              handedOut.push(expected);
            }
          } else if (step.kind === 'giveBack') {
            // A task admitted but not started goes back with its own seq (older than later pushes).
            const item = handedOut.pop();
            if (item) {
              queue.push(item);
              model.push(item);
            }
          } else {
            queue.clear();
            model.length = 0;
          }
          expect(queue.size).toBe(model.length);
          expect(queue.peek()).toBe(first(model));
        }
      }),
    );
  });

  it('keeps FIFO order past its compaction point and takes a given-back item to its place', () => {
    const queue = new PriorityQueue<Item>();
    const items = Array.from({ length: 5_000 }, (_, seq) => ({ priority: 0, seq }));
    for (const item of items) queue.push(item);
    for (let i = 0; i < 3_000; i += 1) expect(queue.shift()).toBe(items[i]);
    queue.push(items[2_999]!); // given back: before every item still queued
    queue.push({ priority: 1, seq: 5_000 }); // a higher priority jumps the queue
    expect(queue.shift()?.seq).toBe(5_000);
    expect(queue.shift()).toBe(items[2_999]);
    expect(queue.shift()).toBe(items[3_000]);
    expect(queue.size).toBe(1_999);
  });
});
