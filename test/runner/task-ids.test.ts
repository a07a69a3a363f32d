import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTaskIds } from '../../src/runner/task-ids.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createTaskIds', () => {
  it('gives UUID-shaped ids that differ in their first 8 characters', () => {
    const next = createTaskIds();
    const ids = Array.from({ length: 1_000 }, next);
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBe(1_000);
  });

  it('gives two runners disjoint ids, even from the same counter value', () => {
    const a = createTaskIds(0);
    const b = createTaskIds(0);
    const ids = new Set([...Array.from({ length: 500 }, a), ...Array.from({ length: 500 }, b)]);
    expect(ids.size).toBe(1_000);
  });

  it('carries the counter into the second group past 2^32', () => {
    const next = createTaskIds(0xffff_fffe);
    const [a, b, c] = [next(), next(), next()];
    expect(a.slice(0, 13)).toBe('fffffffe-0000');
    expect(b.slice(0, 13)).toBe('ffffffff-0000');
    expect(c.slice(0, 13)).toBe('00000000-0001');
    expect(c.slice(14)).toBe(a.slice(14));
    expect(c).toMatch(UUID_V4);
  });

  it('gives the counter as 8 + 4 hex digits, for any start and across every 256-id step (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0xffff_fd00, max: 0xffff_ffff })), (start) => {
        const next = createTaskIds(start);
        const first = next();
        const runner = first.slice(14);
        expect(first.slice(0, 13)).toBe(`${start.toString(16).padStart(8, '0')}-0000`);
        for (let i = 1; i < 700; i += 1) {
          const n = start + i;
          const low = n % 0x1_0000_0000;
          const high = Math.floor(n / 0x1_0000_0000);
          expect(next()).toBe(`${low.toString(16).padStart(8, '0')}-${high.toString(16).padStart(4, '0')}-${runner}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
