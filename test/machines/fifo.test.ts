import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/machines/fifo.js';

describe('Fifo', () => {
  it('behaves like an array used as a queue, for any sequence of pushes and shifts', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant<'shift'>('shift')), { maxLength: 5_000 }), (ops) => {
        const fifo = new Fifo<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === 'shift') expect(fifo.shift()).toBe(model.shift());
          else {
            fifo.push(op);
            model.push(op);
          }
          expect(fifo.size).toBe(model.length);
          expect(fifo.peek()).toBe(model[0]);
        }
      }),
    );
  });

  it('stays correct across its compaction point', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 5_000; i += 1) fifo.push(i);
    for (let i = 0; i < 3_000; i += 1) expect(fifo.shift()).toBe(i);
    fifo.push(5_000);
    expect(fifo.size).toBe(2_001);
    expect(fifo.peek()).toBe(3_000);
  });
});
