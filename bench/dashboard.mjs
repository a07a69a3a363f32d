// The dashboard's cost: `node bench/dashboard.mjs [--short]` after `npm run build`.
//
// 1. Steady load: 100 tasks/s (each reports progress 3 times over ~60 ms) for 60 s (10 s with
//    --short), once without the dashboard and once with it, the page open in Debian's chromium and
//    10 SSE clients in a child process. Reports the runner process's CPU both ways (the difference
//    is the dashboard server's), and transition-to-page latency: from the transition's `at` to the
//    page's row changing status (a MutationObserver) and to each SSE client receiving it.
// 2. W1 (bench/README.md): 100,000 no-op tasks (20,000 with --short), concurrency 10, submit to
//    idle, each run in a fresh child process (after a 20,000-task warm-up in it), in interleaved
//    rounds (plain, a no-op 'transition' listener, the dashboard attached with 10 SSE clients
//    connected; the order rotates each round), a warm-up round discarded, then 9 measured rounds
//    (5 with --short): medians of the per-round ratios. The no-op listener
//    column is the core's own price of the 'transition' event, which any listener (the
//    dashboard's included) pays.
import { execFile, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { BackgroundRunner } from '../dist/index.js';
import { serveDashboard } from '../dist/dashboard/serve-dashboard.js';

const SHORT = process.argv.includes('--short');
const STEADY_S = SHORT ? 10 : 60;
const W1_TASKS = SHORT ? 20_000 : 100_000;
const W1_ROUNDS = SHORT ? 5 : 9;
const CLIENTS = 10;
if (process.argv[2] === '--w1') {
  // Child: one W1 run of a variant (a warm-up run of 20,000 first), then its rate on stdout.
  const variant = process.argv[3];
  const runner = new BackgroundRunner({ maxConcurrentTasks: 10, cleanupDelay: 0 });
  let close = async () => {};
  if (variant === 'noop') runner.on('transition', () => {});
  if (variant === 'dash') {
    const dash = await serveDashboard(runner, { port: 0 });
    const clients = fork(new URL(import.meta.url), ['--clients', `http://127.0.0.1:${dash.port}`, dash.token]);
    await new Promise((resolve) => clients.once('message', resolve));
    await sleep(200);
    close = async () => {
      clients.kill();
      await dash.close();
    };
  }
  await w1(runner, 20_000);
  const rate = await w1(runner, W1_TASKS);
  await close();
  await runner.stop();
  process.stdout.write(`${JSON.stringify({ rate })}\n`);
} else if (process.argv[2] === '--clients') {
  // Child: CLIENTS SSE readers; on 'report', send back their latencies.
  const [url, token] = process.argv.slice(3);
  const latencies = [];
  const { request } = await import('node:http');
  for (let i = 0; i < CLIENTS; i += 1) {
    request(`${url}/events`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!block.includes('event: transition')) continue;
          const data = block.slice(block.indexOf('data: ') + 6);
          const at = Number(/"at":(\d+)/.exec(data)?.[1]);
          if (latencies.length < 2_000_000) latencies.push(Date.now() - at);
        }
      });
    }).end();
  }
  process.on('message', (message) => {
    if (message === 'reset') latencies.length = 0;
    if (message === 'report') process.send(summary(latencies));
  });
  process.send('ready');
} else {
  await main();
}

function summary(values) {
  if (values.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: values.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

async function steady(runner, seconds) {
  const work = async (ctx) => {
    for (let i = 1; i <= 3; i += 1) {
      await sleep(20);
      ctx.reportProgress(i / 3, `step ${i}`);
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  let submitted = 0;
  while (performance.now() < deadline) {
    const due = Math.floor(((performance.now() - started) / 1_000) * 100);
    while (submitted < due) {
      await runner.submit(work, { name: `task ${submitted}` });
      submitted += 1;
    }
    await sleep(5);
  }
  await runner.onIdle();
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - started;
  return { submitted, cpuPercent: ((used.user + used.system) / 1_000 / wall) * 100 };
}

async function w1(runner, tasks) {
  const noop = async () => {};
  const started = performance.now();
  for (let i = 0; i < tasks; i += 1) runner.submit(noop);
  await runner.onIdle();
  return tasks / ((performance.now() - started) / 1_000);
}

/** One W1 run of `variant` in a fresh child process: its tasks/s. */
function w1Child(variant) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), '--w1', variant, ...(SHORT ? ['--short'] : [])], (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout.trim().split('\n').pop()).rate);
    });
  });
}

async function attach(runner) {
  const dash = await serveDashboard(runner, { port: 0 });
  const browser = await chromium.launch({
    executablePath: process.env.TASKLANE_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript(() => {
    const seen = [];
    globalThis.__seen = seen;
    new MutationObserver((records) => {
      const now = Date.now();
      for (const r of records) {
        const el = r.target;
        if (r.attributeName === 'data-status' && el.dataset?.id) seen.push([el.dataset.id, el.dataset.status, now]);
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-status'] });
  });
  await page.goto(dash.url);
  await page.waitForSelector('#live[data-state="live"]');
  const clients = fork(new URL(import.meta.url), ['--clients', `http://127.0.0.1:${dash.port}`, dash.token]);
  await new Promise((resolve) => clients.once('message', resolve));
  const ask = (message) =>
    new Promise((resolve) => {
      clients.once('message', resolve);
      clients.send(message);
    });
  return {
    page,
    clientReport: () => ask('report'),
    resetClients: () => clients.send('reset'),
    async close() {
      clients.kill();
      await browser.close();
      await dash.close();
    },
  };
}

async function main() {
  console.log(
    `bench/dashboard.mjs${SHORT ? ' --short' : ''}: steady ${STEADY_S} s at 100 tasks/s, W1 ${W1_TASKS} tasks × (1 warm-up + ${W1_ROUNDS}) rounds, medians`,
  );

  // 1. Steady load without, then with the dashboard.
  const plain = new BackgroundRunner({ maxConcurrentTasks: 50, cleanupDelay: 10_000 });
  const without = await steady(plain, STEADY_S);
  await plain.stop();

  const runner = new BackgroundRunner({ maxConcurrentTasks: 50, cleanupDelay: 10_000 });
  const times = new Map();
  runner.on('transition', ({ task, to, at }) => times.set(`${task.id}:${to}`, at));
  const attached = await attach(runner);
  attached.resetClients();
  const withDash = await steady(runner, STEADY_S);
  await sleep(1_000); // let the last events reach the page
  const seen = await attached.page.evaluate(() => globalThis.__seen);
  const pageLatencies = [];
  for (const [id, status, t] of seen) {
    const at = times.get(`${id}:${status}`);
    if (at !== undefined) pageLatencies.push(t - at);
  }
  const page = summary(pageLatencies);
  const sse = await attached.clientReport();
  await attached.close();
  await runner.stop();

  // 2. W1: plain, with a no-op 'transition' listener, with the dashboard (its 10 SSE clients
  // connected). Each run is a fresh child process, as in bench/run.mjs, so JIT state and heap never
  // mix between variants (in one process the three shared the core's code, and the mix alone cost
  // the dashboard variant ~20 %); the order rotates each round. Round 0 is a warm-up.
  const w1Plain = [];
  const w1Noop = [];
  const w1Dash = [];
  const order = ['plain', 'noop', 'dash'];
  for (let round = 0; round <= W1_ROUNDS; round += 1) {
    const rates = {};
    for (let k = 0; k < order.length; k += 1) {
      const name = order[(round + k) % order.length];
      rates[name] = await w1Child(name);
    }
    if (round === 0) continue;
    w1Plain.push(rates.plain);
    w1Noop.push(rates.noop);
    w1Dash.push(rates.dash);
    process.stderr.write('.');
  }

  const median = (xs) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  // Each round's ratio is taken within the round (the three runs ran back to back), then the median.
  const ratios = (xs) => xs.map((x, i) => x / w1Plain[i]);
  const slowdown = 1 - median(ratios(w1Dash));
  const noopSlowdown = 1 - median(ratios(w1Noop));
  const f = (n) => (Number.isFinite(n) ? n.toFixed(1) : '-');
  console.log('');
  console.log(`| measure | value | target |`);
  console.log(`| --- | --- | --- |`);
  console.log(`| runner process CPU at 100 tasks/s, no dashboard | ${f(without.cpuPercent)} % (${without.submitted} tasks) | |`);
  console.log(
    `| runner process CPU at 100 tasks/s, dashboard + page + ${CLIENTS} SSE clients | ${f(withDash.cpuPercent)} % (${withDash.submitted} tasks) | |`,
  );
  console.log(`| dashboard server CPU (difference) | ${f(withDash.cpuPercent - without.cpuPercent)} % of a core | |`);
  console.log(
    `| transition → page row, p50 / p99 / max | ${f(page.p50)} / ${f(page.p99)} / ${f(page.max)} ms (n = ${page.n}) | p99 < 250 ms ${page.p99 < 250 ? 'PASS' : 'FAIL'} |`,
  );
  console.log(`| transition → SSE client, p50 / p99 / max | ${f(sse.p50)} / ${f(sse.p99)} / ${f(sse.max)} ms (n = ${sse.n}) | |`);
  const rounds = (xs) => xs.map((x) => Math.round(x)).join(', ');
  console.log(
    `| W1 tasks/s, median of ${W1_ROUNDS}: plain / no-op 'transition' listener / dashboard attached | ${Math.round(median(w1Plain))} / ${Math.round(median(w1Noop))} / ${Math.round(median(w1Dash))} | |`,
  );
  console.log(
    `| W1 slowdown with a no-op 'transition' listener (the core's part), median of per-round ratios | ${f(noopSlowdown * 100)} % | |`,
  );
  console.log(
    `| W1 slowdown with the dashboard attached, median of per-round ratios | ${f(slowdown * 100)} % | ≤ 10 % ${slowdown <= 0.1 ? 'PASS' : 'FAIL'} |`,
  );
  console.log('');
  console.log(`W1 rounds (tasks/s): plain ${rounds(w1Plain)}; no-op listener ${rounds(w1Noop)}; dashboard ${rounds(w1Dash)}`);
  console.log(
    `W1 per-round ratios to plain: no-op ${ratios(w1Noop)
      .map((r) => r.toFixed(2))
      .join(', ')}; dashboard ${ratios(w1Dash)
      .map((r) => r.toFixed(2))
      .join(', ')}`,
  );
}
