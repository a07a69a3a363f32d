import { randomUUID } from 'node:crypto';
import type { TaskId } from '../types.js';

/**
 * @internal
 * Creates a runner's id source: ids shaped like a UUID v4 (so they fit any column, log or tool that
 * expects one) without drawing randomness per task.
 *
 * Layout: `cccccccc-hhhh-4rrr-vrrr-rrrrrrrrrrrr`. The last three groups (70 random bits, from one
 * `randomUUID()` per runner) name the runner; the first two hold a 48-bit counter that starts at a
 * random 32-bit value, so the first 8 characters differ from task to task and from runner to
 * runner. Two runners — in one process or on two machines sharing a remote queue — collide only if
 * their 70 random bits do (about one chance in 10^21 for a pair).
 */
export function createTaskIds(start: number = Number.parseInt(randomUUID().slice(0, 8), 16)): () => TaskId {
  const runner = randomUUID().slice(14); // '4rrr-vrrr-rrrrrrrrrrrr'
  let low = start >>> 0;
  let high = 0;
  let suffix = tail(high, runner);
  // The first 6 hex digits change every 256 ids: kept, so an id costs a table lookup and two
  // concatenations. (`low.toString(16)` per id was a tenth of `submit()`: past 2^31 the counter is
  // a heap number, and its radix conversion takes the slow path.)
  let head = hex(low >>> 8, 6);
  return () => {
    const id = head + BYTE_HEX[low & 0xff]! + suffix;
    low += 1;
    if ((low & 0xff) === 0) {
      if (low === 0x1_0000_0000) {
        low = 0;
        high = (high + 1) & 0xffff;
        suffix = tail(high, runner);
      }
      head = hex(low >>> 8, 6);
    }
    return id;
  };
}

/** `'00'` to `'ff'`. */
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => hex(byte, 2));

function tail(high: number, runner: string): string {
  return `-${hex(high, 4)}-${runner}`;
}

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, '0');
}
