/**
 * The dashboard page in a real browser: Debian's chromium driven by playwright-core.
 */
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { serveDashboard } from '../../src/dashboard/serve-dashboard.js';
import { launchBrowser } from './browser.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function openPage(url: string): Promise<Page> {
  const context = await browser.newContext();
  cleanup.push(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  cleanup.push(() => expect(errors).toEqual([]));
  await page.goto(url);
  await page.waitForSelector('#live[data-state="live"]');
  return page;
}

async function setup(runnerOptions: ConstructorParameters<typeof BackgroundRunner>[0] = {}) {
  const runner = new BackgroundRunner(runnerOptions);
  const dash = await serveDashboard(runner, { port: 0 });
  cleanup.push(
    () => dash.close(),
    () => runner.stop(),
  );
  const page = await openPage(dash.url);
  return { runner, dash, page };
}

/** Work that runs until released, and exposes its context so the test can report progress. */
function controlled() {
  let release!: (value: unknown) => void;
  const released = new Promise((resolve) => (release = resolve));
  let ctx: TaskContext | undefined;
  let onStart: (context: TaskContext) => void = () => undefined;
  const started = new Promise<TaskContext>((resolve) => {
    onStart = resolve;
  });
  const aborted: unknown[] = [];
  function work(context: TaskContext) {
    ctx = context;
    onStart(context);
    return new Promise((resolve, reject) => {
      context.signal.addEventListener('abort', () => {
        aborted.push(context.signal.reason);
        reject(context.signal.reason as Error);
      });
      void released.then(resolve);
    });
  }
  return { work, release, started, aborted, ctx: () => ctx! };
}

const row = (id: string) => `#tasks tr[data-id="${id}"]`;
const barValue = (page: Page, id: string) => page.$eval(`${row(id)} progress`, (bar) => (bar as unknown as { value: number }).value);

describe('dashboard page', { timeout: 60_000 }, () => {
  it('shows a task submitted after the page loaded going pending → running → completed without a reload', async () => {
    const { runner, page } = await setup({ maxConcurrentTasks: 1 });
    const blocker = controlled();
    const target = controlled();
    await runner.submit(blocker.work, { name: 'blocker' });
    const task = await runner.submit(target.work, { name: 'watched' });
    await page.waitForSelector(`${row(task.id)}[data-status="pending"]`);
    expect(await page.textContent(`${row(task.id)} .task-name`)).toBe('watched');
    blocker.release('ok');
    await page.waitForSelector(`${row(task.id)}[data-status="running"]`);
    target.release('ok');
    await page.waitForSelector(`${row(task.id)}[data-status="completed"]`);
    expect(await page.textContent(`${row(task.id)} .status`)).toBe('completed');
    expect(await page.textContent('nav#tabs [data-filter="completed"] .count')).toBe('2');
  });

  it('moves the progress bar as the work reports progress', async () => {
    const { runner, page } = await setup();
    const work = controlled();
    const task = await runner.submit(work.work, { name: 'progressing' });
    const ctx = await work.started;
    ctx.reportProgress(0.25, 'a quarter');
    await expect.poll(() => barValue(page, task.id), { timeout: 10_000 }).toBe(0.25);
    expect(await page.textContent(`${row(task.id)} .message`)).toBe(' a quarter');
    ctx.reportProgress(0.75);
    await expect.poll(() => barValue(page, task.id), { timeout: 10_000 }).toBe(0.75);
    work.release('ok');
  });

  it("cancels a task from its row's Cancel button, aborting the work's signal", async () => {
    const { runner, page } = await setup();
    const work = controlled();
    const task = await runner.submit(work.work, { name: 'to cancel' });
    await page.waitForSelector(`${row(task.id)}[data-status="running"]`);
    await page.click(`${row(task.id)} button.cancel`);
    await page.waitForSelector(`${row(task.id)}[data-status="cancelled"]`);
    expect(task.status).toBe('cancelled');
    expect(work.aborted).toHaveLength(1);
    expect(await page.isHidden(`${row(task.id)} button.cancel`)).toBe(true);
  });

  it('draws the statechart from taskMachine with the current state marked and the path taken', async () => {
    const { runner, page } = await setup();
    const work = controlled();
    const task = await runner.submit(work.work, { name: 'charted' });
    await page.waitForSelector(`${row(task.id)}[data-status="running"]`);
    await page.click(`${row(task.id)} .task-name`);
    await page.waitForSelector('#chart g.state.current[data-state="running"]');
    const states = await page.$$eval('#chart g.state', (gs) => gs.map((g) => g.getAttribute('data-state')));
    expect(states).toEqual(['pending', 'running', 'retrying', 'completed', 'failed', 'cancelled', 'lost']);
    expect(
      await page.$$eval('#chart g.edge.taken', (gs) => gs.map((g) => `${g.getAttribute('data-from')}>${g.getAttribute('data-to')}`)),
    ).toEqual(['pending>running']);
    work.release('ok');
    await page.waitForSelector('#chart g.state.current[data-state="completed"]');
    expect(await page.textContent('#d-outcome')).toBe('ok');
  });

  it('shows the newest 200 matching tasks as rows, "Show more" adds the next 200, and the search and tabs pick from all', async () => {
    const { runner, page } = await setup({ maxConcurrentTasks: 50 });
    const needle = await runner.submit(async () => 'found', { name: 'needle' });
    const broken = await runner.submit(
      async () => {
        throw new Error('broken');
      },
      { name: 'broken' },
    );
    for (let i = 0; i < 229; i += 1) await runner.submit(async () => i, { name: `bulk ${i}` });
    await runner.onIdle();
    const rows = () => page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => tr.querySelector('.task-name')!.textContent));
    await expect.poll(() => page.textContent('nav#tabs [data-filter="all"] .count'), { timeout: 10_000 }).toBe('231');
    await expect.poll(async () => (await rows()).length).toBe(200);
    expect((await rows())[0]).toBe('bulk 228'); // newest first
    expect(await page.textContent('#shown')).toBe('Showing 200 of 231');
    expect(await page.isVisible('#show-more')).toBe(true);
    // The oldest two are not rows yet: the search finds them anyway.
    expect(await page.$(row(needle.id))).toBeNull();
    await page.click('#show-more');
    await expect.poll(async () => (await rows()).length).toBe(231);
    expect(await page.isVisible('#show-more')).toBe(false);
    expect(await page.textContent(`${row(needle.id)} .status`)).toBe('completed');

    await page.fill('#search', 'NEEDLE');
    await expect.poll(rows).toEqual(['needle']);
    await page.fill('#search', '');
    await expect.poll(async () => (await rows()).length).toBe(200); // back to the first page
    await page.click('nav#tabs [data-filter="failed"]');
    await expect.poll(rows).toEqual(['broken']);
    expect(await page.textContent(`${row(broken.id)} .status`)).toBe('failed');
    expect(await page.isVisible('#show-more')).toBe(false);
  });

  it('resumes a dropped event stream without losing transitions', async () => {
    const runner = new BackgroundRunner();
    // Mount the handler in a server of our own, so the test can cut the stream's socket.
    const sockets = new Set<ServerResponse>();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const dash = await serveDashboard(runner, { port: 0, allowedHosts: [`127.0.0.1:${port}`] });
    server.on('request', (req, res) => {
      if (req.url === '/events') sockets.add(res);
      dash.handler(req, res);
    });
    cleanup.push(
      () => new Promise((resolve) => server.close(resolve)),
      () => server.closeAllConnections(),
      () => dash.close(),
      () => runner.stop(),
    );
    const context = await browser.newContext();
    cleanup.push(() => context.close());
    const page = await context.newPage();
    // Record every event id the page's EventSource delivers.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (globalThis as unknown as { seen: string[] }).seen = seen;
      const add = EventSource.prototype.addEventListener;
      EventSource.prototype.addEventListener = function (this: EventSource, type: string, listener: unknown, options?: unknown) {
        if (type === 'transition') add.call(this, type, (e: Event) => seen.push((e as MessageEvent).lastEventId), options as undefined);
        return add.call(this, type, listener as (e: Event) => void, options as undefined);
      } as typeof EventSource.prototype.addEventListener;
    });
    await page.goto(`http://127.0.0.1:${port}/?token=${dash.token}`);
    await page.waitForSelector('#live[data-state="live"]');
    const before = await runner.submit(async () => 'before');
    await page.waitForSelector(`${row(before.id)}[data-status="completed"]`);

    for (const res of sockets) res.socket?.destroy();
    sockets.clear();
    await page.waitForSelector('#live[data-state="reconnecting"]');
    const during = await runner.submit(async () => 'during');
    await runner.onIdle();

    await page.waitForSelector(`${row(during.id)}[data-status="completed"]`);
    const seen = (await page.evaluate(() => (globalThis as unknown as { seen: string[] }).seen)).map(Number);
    // Three transitions per task: none lost, none delivered twice, in order.
    expect(seen).toHaveLength(6);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(6);
  });

  it('renders a value containing <script> as text', async () => {
    const { runner, page } = await setup();
    const evil = '<script>window.hacked = 1</script><img src=x onerror="window.hacked = 2">';
    const task = await runner.submit(
      async (ctx: TaskContext) => {
        ctx.reportProgress(0.5, evil);
        return evil;
      },
      { name: evil },
    );
    await page.waitForSelector(`${row(task.id)}[data-status="completed"]`);
    expect(await page.textContent(`${row(task.id)} .task-name`)).toBe(evil);
    await page.click(`${row(task.id)} .task-name`);
    await page.waitForSelector('#chart g.state.current[data-state="completed"]');
    expect(await page.textContent('#d-outcome')).toBe(evil);
    expect(await page.$$('main img')).toHaveLength(0);
    expect(await page.evaluate(() => (globalThis as unknown as { hacked?: number }).hacked)).toBeUndefined();
  });
});
