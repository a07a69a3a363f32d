// Measures what the SQLite store costs on the hot path: W1 (100,000 no-op async tasks at
// concurrency 10) with no store, with a store and function tasks, and with a store and named tasks;
// then what an acknowledged submit costs (`await submit()` resolves once the record is committed):
// every submit awaited one by one (one transaction each), and in groups of 100 submitted together
// (group commit: one transaction per group).
// Build first (`npm run build`), then: node bench/store.mjs [tasks] [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackgroundRunner } from '../dist/index.js';
import { sqliteStore } from '../dist/store/sqlite/sqlite-store.js';

const TASKS = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const GROUP = 100;
const noop = async () => {};

/** One W1 run; resolves with tasks per second, counting until every record is on disk. */
async function w1(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
  try {
    const store = kind === 'off' ? undefined : sqliteStore({ path: join(dir, 'tasks.db') });
    const runner = new BackgroundRunner({ maxConcurrentTasks: 10, store });
    runner.define('noop', noop);
    const start = performance.now();
    if (kind === 'awaited') {
      for (let i = 0; i < TASKS; i += 1) await runner.submit('noop');
    } else if (kind === 'grouped') {
      for (let i = 0; i < TASKS; i += GROUP) await Promise.all(Array.from({ length: GROUP }, () => runner.submit('noop')));
    } else {
      for (let i = 0; i < TASKS; i += 1) {
        if (kind === 'named') runner.submit('noop');
        else runner.submit(noop);
      }
    }
    await runner.onIdle();
    await runner.stop(); // flushes the last batch and closes the store
    const seconds = (performance.now() - start) / 1_000;
    if (store) {
      const check = sqliteStore({ path: join(dir, 'tasks.db') });
      const done = check.list({ status: 'completed' }).length;
      check.close();
      if (done !== TASKS) throw new Error(`expected ${TASKS} completed records, found ${done}`);
    }
    return TASKS / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kinds = [
  ['off', 'no store (function tasks)'],
  ['on', 'sqliteStore, function tasks'],
  ['named', 'sqliteStore, named tasks'],
  ['grouped', `sqliteStore, named, await Promise.all of ${GROUP} submits`],
  ['awaited', 'sqliteStore, named, await each submit'],
];
const results = new Map(kinds.map(([kind]) => [kind, []]));
await w1('off'); // warm-up
await w1('on');
for (let round = 0; round < ROUNDS; round += 1) {
  // Interleaved, so a slower moment of a shared machine hits every variant alike.
  for (const [kind] of kinds) results.get(kind).push(await w1(kind));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const base = median(results.get('off'));
console.log(
  `W1: ${TASKS.toLocaleString('en-US')} no-op async tasks, concurrency 10, median of ${ROUNDS} rounds (Node ${process.version})\n`,
);
console.log('| variant | tasks/s | vs no store |');
console.log('|---|---:|---:|');
for (const [kind, label] of kinds) {
  const rate = median(results.get(kind));
  console.log(`| ${label} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / base).toFixed(2)}× |`);
}
