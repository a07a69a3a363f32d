// The CPU-bound work of bench/cpu.mjs: `rounds` chained SHA-256 hashes of a 1 KiB block. The same
// function runs on the main thread and, imported by a worker thread, in the pool.
import { createHash } from 'node:crypto';

const block = Buffer.alloc(1024, 7);

export function hashRounds(rounds) {
  let digest = block;
  for (let i = 0; i < rounds; i += 1) digest = createHash('sha256').update(digest).update(block).digest();
  return digest.toString('hex');
}
