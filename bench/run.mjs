// The tasklane benchmark: a raw-Promise semaphore (the limit), p-queue and tasklane's
// BackgroundRunner, side by side on the same workloads. Run it with `npm run bench` (builds first).
//
// The parent process only orchestrates: every measurement runs in a fresh child process
// (`node --expose-gc bench/run.mjs child <workload> <contender> [variant]`) that prints one JSON
// line, so JIT state, heap and peak RSS never mix between contenders. Rounds are interleaved
// (baseline, p-queue, tasklane, baseline, …) so a burst of load from a neighbour hurts all three.

import { spawn } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const SELF = fileURLToPath(import.meta.url);

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONTENDERS = ['baseline', 'pqueue', 'tasklane'];
const LABEL = { baseline: 'raw Promise semaphore', pqueue: `p-queue ${pqueueVersion()}`, tasklane: 'tasklane' };

// ------------------------------------------------------------------ contenders

function pqueueVersion() {
  // p-queue's `exports` hide its package.json; read it from where the import resolves.
  const entry = fileURLToPath(import.meta.resolve('p-queue'));
  const pkg = entry.slice(0, entry.lastIndexOf('/dist/')) + '/package.json';
  return JSON.parse(readFileSync(pkg, 'utf8')).version;
}

/** The limit: a hand-written counting semaphore around each call, nothing else. */
class Semaphore {
  #free;
  #waiters = [];
  #head = 0;
  constructor(n) {
    this.#free = n;
  }
  acquire() {
    if (this.#free > 0) {
      this.#free -= 1;
      return undefined;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  release() {
    if (this.#head < this.#waiters.length) {
      const next = this.#waiters[this.#head];
      this.#waiters[this.#head++] = undefined;
      if (this.#head === this.#waiters.length) {
        this.#waiters = [];
        this.#head = 0;
      }
      next();
    } else {
      this.#free += 1;
    }
  }
}

/**
 * Each adapter: `add(fn, onSettled?)` queues `fn`, `onIdle()` resolves when everything settled,
 * `close()` tears down. `onSettled` is only passed when latency is measured.
 */
async function makeContender(name, concurrency, { cleanupDelay = 0, observe } = {}) {
  if (name === 'baseline') {
    const semaphore = new Semaphore(concurrency);
    let active = 0;
    let idle = [];
    const done = () => {
      semaphore.release();
      if (--active === 0) {
        const waiters = idle;
        idle = [];
        for (const resolve of waiters) resolve();
      }
    };
    const run = async (fn) => {
      const wait = semaphore.acquire();
      if (wait) await wait;
      try {
        return await fn();
      } finally {
        done();
      }
    };
    return {
      add(fn, onSettled) {
        active += 1;
        const promise = run(fn);
        if (onSettled) promise.then(onSettled, onSettled);
      },
      onIdle: () => (active === 0 ? Promise.resolve() : new Promise((resolve) => idle.push(resolve))),
      close() {},
    };
  }
  if (name === 'pqueue') {
    const { default: PQueue } = await import('p-queue');
    const queue = new PQueue({ concurrency });
    return {
      add(fn, onSettled) {
        const promise = queue.add(fn);
        if (onSettled) promise.then(onSettled, onSettled);
      },
      onIdle: () => queue.onIdle(),
      close() {
        queue.clear();
      },
    };
  }
  if (name === 'tasklane') {
    const { BackgroundRunner } = await import('../dist/index.js');
    // `cleanupDelay: undefined` is the runner's default (5 minutes, at most `maxFinishedTasks` kept).
    const options = { maxConcurrentTasks: concurrency, autoCleanup: true };
    if (cleanupDelay !== undefined) options.cleanupDelay = cleanupDelay;
    // W7/W10: every task observed, as a UI would: subscribed, or seen by an inspector.
    if (observe === 'inspect') options.inspect = () => {};
    const runner = new BackgroundRunner(options);
    const subscribe = (task) => task.subscribe(() => {});
    return {
      // `submit()` resolves with the handle; the bench never reads `task.actor`, so tasks stay
      // compact records, as they do for any caller that only waits for results.
      add(fn, onSettled) {
        const submitted = onSettled ? runner.submit(fn, { onComplete: onSettled }) : runner.submit(fn);
        if (observe === 'subscribe') void submitted.then(subscribe);
      },
      onIdle: () => runner.onIdle(),
      close: () => runner.stop(),
    };
  }
  throw new Error(`unknown contender ${name}`);
}

// ------------------------------------------------------------------ workloads (in the child)

const noop = async () => {};
const sleep5 = () => new Promise((resolve) => setTimeout(resolve, 5));
const tick = () => new Promise((resolve) => setImmediate(resolve));
const gc = () => {
  globalThis.gc();
  globalThis.gc();
};

async function throughput(contender, { tasks, concurrency, fn, variant, observe }) {
  const q = await makeContender(contender, concurrency, { observe });
  const latencies = variant === 'latency' ? new Float64Array(tasks) : undefined;
  const start = performance.now();
  if (latencies) {
    for (let i = 0; i < tasks; i++) {
      const submittedAt = performance.now();
      q.add(fn, () => {
        latencies[i] = performance.now() - submittedAt;
      });
    }
  } else {
    for (let i = 0; i < tasks; i++) q.add(fn);
  }
  await q.onIdle();
  const ms = performance.now() - start;
  await q.close();
  const result = { ms, tasksPerSec: (tasks / ms) * 1000 };
  if (latencies) {
    latencies.sort();
    result.p50 = latencies[Math.floor(tasks * 0.5)];
    result.p99 = latencies[Math.floor(tasks * 0.99)];
  }
  return result;
}

const WORKLOADS = {
  // W1/W2: pure overhead per task. A warm-up run of the same shape first, so the JIT has settled.
  async w1(contender, variant) {
    await throughput(contender, { tasks: 20_000, concurrency: 10, fn: noop });
    return throughput(contender, { tasks: 100_000, concurrency: 10, fn: noop, variant });
  },
  async w2(contender, variant) {
    await throughput(contender, { tasks: 20_000, concurrency: 1_000, fn: noop });
    return throughput(contender, { tasks: 100_000, concurrency: 1_000, fn: noop, variant });
  },
  // W3: real timers. 2,000 × 5 ms at 100 at a time is 20 slots' worth: 100 ms if overhead were 0.
  async w3(contender, variant) {
    // Twenty full-size warm-ups for every contender: a round is only ~0.1 s, and tasklane, with
    // xstate behind it, has the most code for the JIT to settle (after five its hot paths are still
    // being re-optimised: `node --trace-deopt` shows it). Variant 'cold' keeps the old five, for the
    // table's information row.
    const warmups = variant === 'cold' ? 5 : 20;
    for (let i = 0; i < warmups; i++) await throughput(contender, { tasks: 2_000, concurrency: 100, fn: sleep5 });
    return throughput(contender, { tasks: 2_000, concurrency: 100, fn: sleep5, variant: variant === 'cold' ? undefined : variant });
  },
  // W4: heap held per queued task. One slot, blocked by a promise we control, 100,000 behind it.
  async w4(contender) {
    const n = 100_000;
    const q = await makeContender(contender, 1);
    let release;
    const blocker = new Promise((resolve) => (release = resolve));
    q.add(() => blocker);
    await tick();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) q.add(noop);
    await tick(); // tasklane tells its supervisor once per microtask: let that batch land
    await tick();
    gc();
    const after = process.memoryUsage().heapUsed;
    release();
    await q.onIdle();
    await q.close();
    return { bytesPerTask: (after - before) / n };
  },
  // W5: a million tasks through one runner, fed 10,000 at a time (a producer that waits for the
  // previous batch, as a real one would with backpressure, and yields to the event loop between
  // batches), finished tasks cleaned up after `cleanupDelay` (variant, default 0). Peak RSS is the
  // process's high-water mark.
  async w5(contender, variant) {
    const total = 1_000_000;
    const chunk = 10_000;
    const cleanupDelay = variant === 'default' ? undefined : variant ? Number(variant) : 0;
    const q = await makeContender(contender, 100, { cleanupDelay });
    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 10);
    const start = performance.now();
    for (let sent = 0; sent < total; sent += chunk) {
      for (let i = 0; i < chunk; i++) q.add(noop);
      await q.onIdle();
      // A real producer waits on I/O between batches; without this turn of the event loop no
      // timer could run at all while no-op tasks settle in microtasks.
      await tick();
    }
    const ms = performance.now() - start;
    clearInterval(sampler);
    await q.close();
    const maxRss = process.resourceUsage().maxRSS * 1024;
    return { ms, tasksPerSec: (total / ms) * 1000, peakRss: Math.max(peakRss, maxRss), heapUsed: process.memoryUsage().heapUsed };
  },
  // W7: W1 with every task observed (variant 'subscribe' or 'inspect'); p-queue runs plain W1.
  async w7(contender, variant) {
    await throughput(contender, { tasks: 20_000, concurrency: 10, fn: noop, observe: variant });
    return throughput(contender, { tasks: 100_000, concurrency: 10, fn: noop, observe: variant });
  },
  // W10: what 200,000 observed tasks leave behind once the runner is stopped: the heap after GC,
  // against the heap with a fresh runner. (Fed 10,000 at a time; variant as in W7.)
  async w10(contender, variant) {
    const q = await makeContender(contender, 100, { observe: variant });
    await tick();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let sent = 0; sent < 200_000; sent += 10_000) {
      for (let i = 0; i < 10_000; i++) q.add(noop);
      await q.onIdle();
      await tick();
    }
    await q.close();
    await tick();
    gc();
    const after = process.memoryUsage().heapUsed;
    return { retained: after - before };
  },
};

async function child([workload, contender, variant]) {
  const result = await WORKLOADS[workload](contender, variant);
  result.maxRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // A stopped runner leaves no timers behind, but do not let a stray handle stall the bench.
  process.exit(0);
}

// ------------------------------------------------------------------ the parent

function measure(workload, contender, variant) {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', SELF, 'child', workload, contender];
    if (variant !== undefined) args.push(String(variant));
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (data) => (out += data));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`${workload}/${contender} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

/** Runs `rounds` rounds of a workload, interleaving the contenders. */
async function rounds(workload, n, variant, contenders = CONTENDERS) {
  const results = Object.fromEntries(contenders.map((c) => [c, []]));
  for (let round = 0; round < n; round++) {
    for (const contender of contenders) {
      results[contender].push(await measure(workload, contender, variant));
      process.stderr.write('.');
    }
  }
  return results;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const best = (runs, key, higher = true) => (higher ? Math.max : Math.min)(...runs.map((r) => r[key]));
const mid = (runs, key) => median(runs.map((r) => r[key]));

const int = (n) => Math.round(n).toLocaleString('en-US');
const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const ms1 = (n) => n.toFixed(1);
const ratio = (n) => `${n.toFixed(2)}×`;
const verdict = (ok) => (ok ? '**PASS**' : '**FAIL**');

async function main() {
  const started = performance.now();
  process.stderr.write(`tasklane bench: ${ROUNDS} rounds, each measurement in its own process `);
  const w1 = await rounds('w1', ROUNDS);
  const w2 = await rounds('w2', ROUNDS);
  const w3 = await rounds('w3', ROUNDS);
  const w3Cold = await rounds('w3', ROUNDS, 'cold');
  const w4 = await rounds('w4', 1);
  const w5 = await rounds('w5', 1, 0);
  const w5Default = await measure('w5', 'tasklane', 'default');
  const w7Sub = await rounds('w7', ROUNDS, 'subscribe', ['pqueue', 'tasklane']);
  const w7Insp = await rounds('w7', ROUNDS, 'inspect', ['pqueue', 'tasklane']);
  const w10Fresh = await measure('w10', 'tasklane');
  const w10Sub = await measure('w10', 'tasklane', 'subscribe');
  const w10Insp = await measure('w10', 'tasklane', 'inspect');
  // tasklane only, opt-in (it adds ~20 s): how much a 1 s cleanupDelay costs in memory.
  const w5Tl1000 = process.env.BENCH_EXTRA ? [await measure('w5', 'tasklane', 1_000)] : [];
  const w1Lat = await rounds('w1', 1, 'latency');
  const w3Lat = await rounds('w3', 1, 'latency');
  process.stderr.write(` done in ${((performance.now() - started) / 1000).toFixed(0)} s\n\n`);

  const rows = [];
  const row = (label, metric, cells, vsPq, target, pass) => rows.push([label, metric, ...cells, vsPq, target, pass]);
  const per = (fn) => CONTENDERS.map((c) => fn(c));

  const tps = (runs) => `${int(best(runs, 'tasksPerSec'))} (median ${int(mid(runs, 'tasksPerSec'))})`;
  const w1Ratio = best(w1.tasklane, 'tasksPerSec') / best(w1.pqueue, 'tasksPerSec');
  const w1MedRatio = mid(w1.tasklane, 'tasksPerSec') / mid(w1.pqueue, 'tasksPerSec');
  row(
    'W1 100,000 no-op tasks, concurrency 10',
    `tasks/s, best of ${ROUNDS}`,
    per((c) => tps(w1[c])),
    `${ratio(w1Ratio)} (median ${ratio(w1MedRatio)})`,
    'median ≥ 0.9× p-queue',
    verdict(w1MedRatio >= 0.9),
  );
  row(
    'W1',
    'latency submit→settle p50 / p99, ms',
    per((c) => `${ms1(w1Lat[c][0].p50)} / ${ms1(w1Lat[c][0].p99)}`),
    '',
    '',
    '',
  );
  row(
    'W1',
    'peak RSS',
    per((c) => mb(best(w1[c], 'maxRss', false))),
    '',
    '',
    '',
  );
  const w2Ratio = best(w2.tasklane, 'tasksPerSec') / best(w2.pqueue, 'tasksPerSec');
  const w2MedRatio = mid(w2.tasklane, 'tasksPerSec') / mid(w2.pqueue, 'tasksPerSec');
  row(
    'W2 100,000 no-op tasks, concurrency 1,000',
    `tasks/s, best of ${ROUNDS}`,
    per((c) => tps(w2[c])),
    `${ratio(w2Ratio)} (median ${ratio(w2MedRatio)})`,
    'median ≥ 0.8× p-queue',
    verdict(w2MedRatio >= 0.8),
  );
  const w3Best = (c) => best(w3[c], 'ms', false);
  const w3Ideal = 100;
  const w3MedRatio = mid(w3.tasklane, 'ms') / mid(w3.pqueue, 'ms');
  row(
    'W3 2,000 × 5 ms sleep, concurrency 100',
    `wall ms, best of ${ROUNDS} (÷ ideal 100 ms)`,
    per((c) => `${ms1(w3Best(c))} (${ratio(w3Best(c) / w3Ideal)}, median ${ms1(mid(w3[c], 'ms'))})`),
    `${ratio(w3Best('tasklane') / w3Best('pqueue'))} (median ${ratio(w3MedRatio)})`,
    'median ≤ 1.03× p-queue',
    verdict(w3MedRatio <= 1.03),
  );
  const w3ColdBest = (c) => best(w3Cold[c], 'ms', false);
  row(
    'W3 the same after only 5 warm-up runs (for information)',
    `wall ms, best of ${ROUNDS} (÷ ideal 100 ms)`,
    per((c) => `${ms1(w3ColdBest(c))} (${ratio(w3ColdBest(c) / w3Ideal)}, median ${ms1(mid(w3Cold[c], 'ms'))})`),
    ratio(w3ColdBest('tasklane') / w3ColdBest('pqueue')),
    '',
    '',
  );
  row(
    'W3',
    'latency submit→settle p50 / p99, ms',
    per((c) => `${ms1(w3Lat[c][0].p50)} / ${ms1(w3Lat[c][0].p99)}`),
    '',
    '',
    '',
  );
  const w4b = (c) => w4[c][0].bytesPerTask;
  row(
    'W4 100,000 queued tasks (1 blocked slot)',
    'heap bytes per queued task',
    per((c) => int(w4b(c))),
    ratio(w4b('tasklane') / w4b('pqueue')),
    '≤ 1 KB (1,024 B)',
    verdict(w4b('tasklane') <= 1024),
  );
  const w5r = (c) => w5[c][0];
  row(
    'W5 1,000,000 no-op tasks, concurrency 100, fed 10,000 at a time, cleanupDelay 0',
    'peak RSS (tasks/s)',
    per((c) => `${mb(w5r(c).peakRss)} (${int(w5r(c).tasksPerSec)})`),
    ratio(w5r('tasklane').peakRss / w5r('pqueue').peakRss),
    '< 400 MB',
    verdict(w5r('tasklane').peakRss < 400 * 2 ** 20),
  );
  row(
    'W5 the same at the defaults (cleanupDelay 5 min, maxFinishedTasks 10,000)',
    'peak RSS (tasks/s)',
    ['—', '—', `${mb(w5Default.peakRss)} (${int(w5Default.tasksPerSec)})`],
    '',
    '< 400 MB',
    verdict(w5Default.peakRss < 400 * 2 ** 20),
  );
  for (const [label, runs, bar] of [
    ['subscribed (`task.subscribe(() => {})`)', w7Sub, 0.3],
    ['inspected (`inspect: () => {}`)', w7Insp, 0.1],
  ]) {
    const r = mid(runs.tasklane, 'tasksPerSec') / mid(runs.pqueue, 'tasksPerSec');
    const rss = best(runs.tasklane, 'maxRss', false);
    row(
      `W7 W1 with every task ${label}`,
      `tasks/s, median of ${ROUNDS} (peak RSS)`,
      ['—', `${int(mid(runs.pqueue, 'tasksPerSec'))}`, `${int(mid(runs.tasklane, 'tasksPerSec'))} (${mb(rss)})`],
      ratio(r),
      `median ≥ ${bar}× p-queue, RSS < 400 MB`,
      verdict(r >= bar && rss < 400 * 2 ** 20),
    );
  }
  for (const [label, run] of [
    ['subscribed', w10Sub],
    ['inspected', w10Insp],
  ]) {
    const extra = run.retained - w10Fresh.retained;
    row(
      `W10 200,000 ${label} tasks, then stop() and GC`,
      'heap retained above a fresh runner’s',
      ['—', '—', `${(extra / 2 ** 20).toFixed(2)} MB`],
      '',
      '≤ 5 MB',
      verdict(extra <= 5 * 2 ** 20),
    );
  }
  const t1000 = w5Tl1000[0];
  if (t1000)
    row(
      'W5 same, tasklane with cleanupDelay 1,000 ms (for information)',
      'peak RSS (tasks/s)',
      ['—', '—', `${mb(t1000.peakRss)} (${int(t1000.tasksPerSec)})`],
      '',
      '',
      '',
    );

  const header = ['workload', 'metric', ...CONTENDERS.map((c) => LABEL[c]), 'tasklane ÷ p-queue', 'target', 'tasklane'];
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const table = [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
  const env = `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model?.trim() ?? 'unknown'}), ${new Date().toISOString()}`;
  process.stdout.write(`${env}\n\n${table}\n`);
  const failed = rows.filter((r) => r.at(-1) === verdict(false)).length;
  process.stdout.write(`\n${failed === 0 ? 'All targets met.' : `${failed} target(s) missed.`}\n`);
}

if (process.argv[2] === 'child') await child(process.argv.slice(3));
else await main();
