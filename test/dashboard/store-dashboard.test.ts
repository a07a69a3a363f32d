import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { dashboardCommand } from '../../src/cli/dashboard-command.js';
import { main } from '../../src/cli/main.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDb } from '../helpers/store.js';
import { SseClient } from './sse-client.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Starts `tasklane dashboard` in-process; resolves with its URL, token and a stop function. */
async function startCommand(args: string[]) {
  const controller = new AbortController();
  let out = '';
  let printed!: () => void;
  const ready = new Promise<void>((resolve) => (printed = resolve));
  const exit = dashboardCommand(args, { out: (t) => ((out += t), printed()), err: (t) => ((out += t), printed()) }, {}, controller.signal);
  await Promise.race([ready, exit]);
  const url = /http:\/\/\S+/.exec(out)?.[0];
  cleanup.push(
    () => exit,
    () => controller.abort(),
  ); // run in reverse: abort, then wait for the exit
  return { url, out, exit, stop: () => controller.abort() };
}

describe('tasklane dashboard --db', () => {
  it("serves a store's records and cancels through the store's cancel request", async () => {
    const db = tempDb();
    cleanup.push(() => db.cleanup());
    const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }) });
    cleanup.push(() => runner.stop());
    await runner.submit(async () => 'done', { name: 'finished one' });
    const running = await runner.submit(
      (ctx: TaskContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
      {
        name: 'long one',
      },
    );
    await expect.poll(() => sqliteStore({ path: db.path }).get(running.id)?.status, { timeout: 5_000 }).toBe('running');

    const { url } = await startCommand(['--db', db.path, '--port', '0']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    const { origin, searchParams } = new URL(url!);
    const auth = { authorization: `Bearer ${searchParams.get('token')}` };
    const list = (await (await fetch(`${origin}/api/tasks`, { headers: auth })).json()) as {
      tasks: { name: string; status: string }[];
      runner: { controllable: boolean };
    };
    expect(list.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['finished one:completed', 'long one:running']);
    expect(list.runner.controllable).toBe(false);
    expect((await fetch(`${origin}/api/runner/pause`, { method: 'POST', headers: auth })).status).toBe(405);

    const events = new SseClient();
    cleanup.push(() => events.close());
    await events.open(`${origin}/events`, auth);
    await events.next((e) => e.event === 'snapshot');

    const cancel = await fetch(`${origin}/api/tasks/${running.id}/cancel`, { method: 'POST', headers: auth });
    expect(await cancel.json()).toEqual({ cancelled: true });
    await expect.poll(() => running.status, { timeout: 5_000 }).toBe('cancelled');
    const seen = await events.next((e) => e.event === 'transition' && JSON.parse(e.data).to === 'cancelled');
    expect(JSON.parse(seen.data)).toMatchObject({ from: 'running', event: 'cancel', task: { id: running.id } });

    const detail = (await (await fetch(`${origin}/api/tasks/${running.id}`, { headers: auth })).json()) as {
      transitions: { to: string }[];
    };
    expect(detail.transitions.map((t) => t.to)).toEqual(['pending', 'running', 'cancelled']);
    events.close();
  });

  it('is reached through `tasklane dashboard` and explains a missing database', async () => {
    let err = '';
    const code = await main(['dashboard', '--db', '/nonexistent/tasks.db'], { out: () => undefined, err: (t) => (err += t) });
    expect(code).toBe(1);
    expect(err).toMatch(/No task database at \/nonexistent\/tasks\.db/);
    let usage = '';
    expect(await main(['dashboard'], { out: () => undefined, err: (t) => (usage += t) }, {})).toBe(2);
    expect(usage).toMatch(/Missing --db <path>/);
  });
});
