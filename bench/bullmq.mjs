// Throughput of named 5 ms tasks through 1, 2 and 4 worker processes on one Redis, tasklane's
// BullMQ workers against raw BullMQ workers doing the same jobs in the same run; then submit→start
// latency (p50/p99). Starts its own redis-server on a free port on 127.0.0.1 and stops it after.
// Build first (`npm run build`), then: node bench/bullmq.mjs [tasks] [rounds] [concurrency per worker]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const NAME = 'sleep5';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.argv[2] === 'worker') await runWorker(...process.argv.slice(3));
else await main();

/** A worker process: `mode` is `tasklane` or `raw`; prints `ready`, runs until SIGTERM. */
async function runWorker(mode, port, prefix, concurrency) {
  const connection = { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null };
  let close;
  if (mode === 'tasklane') {
    const { BackgroundRunner } = await import('../dist/index.js');
    const { bullmqBackend } = await import('../dist/backends/bullmq/bullmq-backend.js');
    const runner = new BackgroundRunner({ backend: bullmqBackend({ connection, prefix }), maxConcurrentTasks: Number(concurrency) });
    runner.define(NAME, async () => {
      const startedAt = Date.now();
      await sleep(5);
      return startedAt;
    });
    close = () => runner.stop({ drain: true, timeout: 1_000 });
  } else {
    const { Worker } = await import('bullmq');
    const worker = new Worker(
      NAME,
      async () => {
        const startedAt = Date.now();
        await sleep(5);
        return startedAt;
      },
      { connection, prefix, concurrency: Number(concurrency) },
    );
    await worker.waitUntilReady();
    close = () => worker.close();
  }
  process.on('SIGTERM', () => void close().then(() => process.exit(0)));
  process.stdout.write('ready\n');
}

async function main() {
  const TASKS = Number(process.argv[2] ?? 20_000);
  const ROUNDS = Number(process.argv[3] ?? 3);
  const CONCURRENCY = Number(process.argv[4] ?? 4);
  const { Queue } = await import('bullmq');
  const { BackgroundRunner } = await import('../dist/index.js');
  const { bullmqBackend } = await import('../dist/backends/bullmq/bullmq-backend.js');
  const redis = await startRedis();
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  let runId = 0;

  /** Queues `TASKS` jobs the way `mode` does (tasklane: a client runner's submit; raw: Queue.addBulk) on a paused queue. */
  async function load(mode, prefix) {
    const queue = new Queue(NAME, { connection, prefix });
    await queue.pause();
    if (mode === 'tasklane') {
      const client = new BackgroundRunner({ backend: bullmqBackend({ connection, prefix }) });
      for (let i = 0; i < TASKS; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, TASKS - i) }, () => client.submit(NAME)));
      }
      await client.stop(); // stops watching: the jobs stay queued
    } else {
      for (let i = 0; i < TASKS; i += 500) {
        await queue.addBulk(Array.from({ length: Math.min(500, TASKS - i) }, () => ({ name: NAME, data: {} })));
      }
    }
    return queue;
  }

  /** One throughput run: tasks per second from resume until every job completed. */
  async function throughput(mode, workers) {
    const prefix = `b${(runId += 1)}`;
    const queue = await load(mode, prefix);
    const children = await Promise.all(Array.from({ length: workers }, () => startWorker(mode, redis.port, prefix, CONCURRENCY)));
    const start = performance.now();
    await queue.resume();
    for (;;) {
      const { completed, failed } = await queue.getJobCounts('completed', 'failed');
      if (failed > 0) throw new Error(`${failed} jobs failed`);
      if (completed >= TASKS) break;
      await sleep(20);
    }
    const seconds = (performance.now() - start) / 1_000;
    await Promise.all(children.map(stopChild));
    await queue.obliterate({ force: true });
    await queue.close();
    return TASKS / seconds;
  }

  /** Submit→start latency: paced submits to two idle workers; the handler returns when it started. */
  async function latency(mode, count = 1_000) {
    const prefix = `l${(runId += 1)}`;
    const children = await Promise.all([0, 1].map(() => startWorker(mode, redis.port, prefix, CONCURRENCY)));
    const samples = [];
    const queue = new Queue(NAME, { connection, prefix });
    queue.setMaxListeners(0); // one listener per add in flight
    const client = mode === 'tasklane' ? new BackgroundRunner({ backend: bullmqBackend({ connection, prefix }) }) : undefined;
    const { QueueEvents } = await import('bullmq');
    const events = mode === 'raw' ? new QueueEvents(NAME, { connection, prefix }) : undefined;
    await events?.waitUntilReady();
    const pending = [];
    for (let i = 0; i < count; i += 1) {
      const submittedAt = Date.now();
      if (client)
        pending.push(
          client
            .submit(NAME)
            .then((task) => task.wait())
            .then((startedAt) => samples.push(startedAt - submittedAt)),
        );
      else
        pending.push(
          queue
            .add(NAME, {})
            .then((job) => job.waitUntilFinished(events))
            .then((startedAt) => samples.push(startedAt - submittedAt)),
        );
      await sleep(2);
    }
    await Promise.all(pending);
    await client?.stop();
    await events?.close();
    await Promise.all(children.map(stopChild));
    await queue.obliterate({ force: true });
    await queue.close();
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(samples.length * 0.5)], p99: samples[Math.floor(samples.length * 0.99)] };
  }

  console.log(
    `bullmq: ${TASKS} × 5 ms named tasks, ${CONCURRENCY} at once per worker process, median of ${ROUNDS} rounds; load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`,
  );
  // Rounds interleave the modes, each tasklane run right beside its raw run, so a machine whose
  // load drifts (other processes on 2 cores) skews both alike; ratios are taken within a round.
  const runs = {};
  const ratios = { 1: [], 2: [], 4: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const workers of [1, 2, 4]) {
      const pair = {};
      for (const mode of round % 2 === 0 ? ['tasklane', 'raw'] : ['raw', 'tasklane']) {
        pair[mode] = await throughput(mode, workers);
        (runs[`${mode}/${workers}`] ??= []).push(pair[mode]);
      }
      ratios[workers].push(pair.tasklane / pair.raw);
    }
  }
  const results = {};
  for (const workers of [1, 2, 4]) {
    for (const mode of ['tasklane', 'raw']) {
      const list = runs[`${mode}/${workers}`];
      results[`${mode}/${workers}`] = median(list);
      console.log(
        `  ${mode.padEnd(8)} ${workers} worker${workers > 1 ? 's' : ' '}: ${Math.round(median(list)).toLocaleString('en-US').padStart(7)} tasks/s  (runs: ${list.map((r) => Math.round(r)).join(', ')})`,
      );
    }
  }
  const lat = { tasklane: await latency('tasklane'), raw: await latency('raw') };
  for (const mode of ['tasklane', 'raw']) console.log(`  submit→start ${mode.padEnd(8)}: p50 ${lat[mode].p50} ms, p99 ${lat[mode].p99} ms`);
  await redis.stop();

  console.log(
    `  load average at the end: ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (on ${(await import('node:os')).availableParallelism()} cores)`,
  );
  const scaling = results['tasklane/2'] / results['tasklane/1'];
  const scaling4 = results['tasklane/4'] / results['tasklane/1'];
  const ratio = [1, 2, 4].map((w) => median(ratios[w]));
  const checks = [
    [`scaling 1→2 workers ${scaling.toFixed(2)}× (≥ 1.7×); 1→4 ${scaling4.toFixed(2)}× (reported)`, scaling >= 1.7],
    [
      `tasklane / raw BullMQ ${ratio.map((r) => r.toFixed(2)).join(' / ')} at 1/2/4 workers, median of per-round ratios (≥ 0.85×)`,
      Math.min(...ratio) >= 0.85,
    ],
  ];
  for (const [text, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'} ${text}`);
  if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function startWorker(mode, port, prefix, concurrency) {
  const child = spawn(process.execPath, [SELF, 'worker', mode, String(port), prefix, String(concurrency)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (data) => {
      if (data.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (data) => {
      if (data.toString().includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  child.stdout.resume();
  return { port, stop: () => stopChild(child) };
}
