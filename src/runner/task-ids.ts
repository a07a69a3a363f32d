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
  let low = start;
  let high = 0;
  let suffix = tail(high, runner);
  return () => {
    const id = hex8(low) + suffix;
    low += 1;
    if (low === 0x1_0000_0000) {
      low = 0;
      high = (high + 1) & 0xffff;
      suffix = tail(high, runner);
    }
    return id;
  };
}

function tail(high: number, runner: string): string {
  return `-${high.toString(16).padStart(4, '0')}-${runner}`;
}

function hex8(n: number): string {
  const hex = n.toString(16);
  return hex.length === 8 ? hex : '00000000'.slice(hex.length) + hex;
}
