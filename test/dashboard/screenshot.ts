/**
 * Saves a screenshot of the dashboard with a few tasks in every state, for the README:
 * `npx tsx test/dashboard/screenshot.ts docs/dashboard.png`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { serveDashboard } from '../../src/dashboard/serve-dashboard.js';
import { launchBrowser } from './browser.js';

const out = process.argv[2] ?? 'docs/dashboard.png';
const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });
const dash = await serveDashboard(runner, { port: 0 });
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
await page.goto(dash.url);
await page.waitForSelector('#live[data-state="live"]');

const steps = (label: string, n: number, ms: number, fail?: string) => async (ctx: TaskContext) => {
  for (let i = 0; i < n; i += 1) {
    ctx.reportProgress(i / n, `${label} ${i + 1}/${n}`);
    await sleep(ms, undefined, { signal: ctx.signal });
  }
  if (fail && ctx.attempt === 1) throw new Error(fail);
  return `${label}: done`;
};
await runner.submit(steps('searching', 4, 100), { name: 'research AI trends' });
await runner.submit(steps('reading', 3, 120), { name: 'summarise Q3 report' });
const flaky = await runner.submit(steps('calling', 3, 150, 'HTTP 503 from weather API'), { name: 'weather api', retries: 2, backoff: 300 });
await runner.submit(steps('crawling', 20, 200), { name: 'scrape example.com', timeout: 1_500 });
const cancelled = await runner.submit(steps('drafting', 20, 200), { name: 'draft long report' });
await runner.submit(steps('translating', 30, 200), { name: 'translate handbook' });
await runner.submit(steps('embedding', 30, 200), { name: 'embed documents' });
await runner.submit(steps('writing', 30, 200), { name: 'agent.chat' });
await sleep(1_000);
await cancelled.cancel();
await sleep(2_200);
await page.click(`#tasks tr[data-id="${flaky.id}"] .task-name`);
await page.waitForSelector('#chart g.state.current');
await sleep(500);
await page.screenshot({ path: out });
console.log(`saved ${out}`);
await browser.close();
await runner.stop();
await dash.close();
