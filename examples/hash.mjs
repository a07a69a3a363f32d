// Runs in a worker thread (see examples/worker-threads.ts): plain JavaScript, loaded by plain Node.
import { createHash } from 'node:crypto';

/** Hashes `text` `rounds` times over, reporting progress every 10%. */
export function hashMany(text, rounds, { reportProgress }) {
  let digest = text;
  for (let i = 1; i <= rounds; i += 1) {
    digest = createHash('sha256').update(digest).digest('hex');
    if (i % (rounds / 10) === 0) reportProgress(i / rounds, `${i} rounds`);
  }
  return digest;
}

/** Never returns: only terminating its thread stops it. */
export function spinForever() {
  for (;;);
}
