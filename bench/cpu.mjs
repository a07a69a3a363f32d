// CPU-bound work through a BackgroundRunner: worker threads (tasklane/worker) vs the main thread.
// Run `npm run build && node bench/cpu.mjs`. Prints a markdown table on stdout.
//
// 200 tasks, each ~20 ms of hashing (calibrated at start-up), maxConcurrentTasks =
// os.availableParallelism(): in worker threads (a pool of that many threads, cold and warm, and
// one of one thread fewer, leaving a core to the main thread) and as a sync function on the main
// thread, plus a baseline with nothing running. Meanwhile a 10 ms setInterval on the main thread
// records how late each tick fires: the event-loop lag a server would add to every request it
// handles meanwhile.
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BackgroundRunner } from '../dist/index.js';
import { createWorkerPool, workerTask } from '../dist/worker/worker.js';
import { hashRounds } from './cpu-work.mjs';

const TASKS = Number(process.env.TASKS ?? 200);
const TASK_MS = Number(process.env.TASK_MS ?? 20);
const INTERVAL = 10;
const threads = availableParallelism();

/** How many rounds take TASK_MS here (median of a few calibration runs). */
function calibrate() {
  hashRounds(2_000); // warm up the JIT
  const samples = [];
  for (let i = 0; i < 5; i += 1) {
    const start = performance.now();
    hashRounds(2_000);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return Math.max(1, Math.round((2_000 * TASK_MS) / samples[2]));
}

/** Starts a 10 ms interval; `stop()` returns the max and p99 of its lateness in ms. */
function lagMonitor() {
  const lags = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - last - INTERVAL));
    last = now;
  }, INTERVAL);
  return {
    stop() {
      clearInterval(timer);
      // The tick due now counts too: with the loop blocked throughout, it is the only one, and late by all of it.
      lags.push(Math.max(0, performance.now() - last - INTERVAL));
      lags.sort((a, b) => a - b);
      const p99 = lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))] ?? 0;
      return { max: lags.at(-1) ?? 0, p99, ticks: lags.length };
    },
  };
}

async function measure(label, work, rounds, concurrency = threads) {
  const runner = new BackgroundRunner({ maxConcurrentTasks: concurrency });
  const monitor = lagMonitor();
  const start = performance.now();
  const tasks = [];
  for (let i = 0; i < TASKS; i += 1) tasks.push(await runner.submit(work, { args: [rounds] }));
  await runner.onIdle();
  const wall = performance.now() - start;
  const lag = monitor.stop();
  const failed = tasks.filter((task) => task.status !== 'completed').length;
  if (failed > 0) throw new Error(`${label}: ${failed} tasks did not complete`);
  return { label, wall, ...lag };
}

/** The same lag monitor with nothing running: what the machine itself adds. */
async function baseline(ms) {
  const monitor = lagMonitor();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { label: "nothing (baseline: the machine's own timer jitter)", wall: performance.now() - start, ...monitor.stop() };
}

const rounds = calibrate();
const moduleUrl = new URL('./cpu-work.mjs', import.meta.url);
const onMain = (n) => hashRounds(n);
const results = [];
// A cold pool starts empty, as the default pool does, so thread start-up is part of the run; a
// warm one has run a task on each thread first.
for (const [label, maxThreads, warm] of [
  [`worker threads (\`workerTask\`), ${threads} threads, cold pool`, threads, false],
  [`worker threads, ${threads} threads, warm pool`, threads, true],
  [`worker threads, ${Math.max(1, threads - 1)} thread(s), warm pool: a core left to the main thread`, Math.max(1, threads - 1), true],
]) {
  const pool = createWorkerPool({ maxThreads });
  const work = workerTask(moduleUrl, 'hashRounds', { pool });
  if (warm) {
    const runner = new BackgroundRunner({ maxConcurrentTasks: maxThreads });
    for (let i = 0; i < maxThreads * 4; i += 1) await runner.submit(work, { args: [1] });
    await runner.onIdle();
  }
  results.push(await measure(label, work, rounds, maxThreads));
  await pool.destroy();
}
results.push(await measure('main thread (sync function)', onMain, rounds));
results.push(await baseline(results[0].wall));

const fmt = (ms) => `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
console.log(
  `${TASKS} tasks × ~${TASK_MS} ms of SHA-256 (${rounds} rounds each); maxConcurrentTasks = the pool's threads, ${threads} on the main thread; ` +
    `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}, Node ${process.version}\n`,
);
console.log('| where the work runs | wall time | main-loop lag, max | main-loop lag, p99 | 10 ms ticks seen |');
console.log('|---|---:|---:|---:|---:|');
for (const r of results) console.log(`| ${r.label} | ${fmt(r.wall)} | ${fmt(r.max)} | ${fmt(r.p99)} | ${r.ticks} |`);
