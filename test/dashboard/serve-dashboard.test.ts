import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { serveDashboard } from '../../src/dashboard/serve-dashboard.js';
import type { Dashboard } from '../../src/dashboard/serve-dashboard.js';
import { SseClient } from './sse-client.js';

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

async function start(options: Parameters<typeof serveDashboard>[1] = {}, runnerOptions = {}) {
  const runner = new BackgroundRunner(runnerOptions);
  const dash = await serveDashboard(runner, { port: 0, ...options });
  open.push({ close: () => runner.stop() }, dash);
  return { runner, dash, base: `http://127.0.0.1:${dash.port}` };
}

const bearer = (dash: Dashboard) => ({ authorization: `Bearer ${dash.token}` });

/** Work that runs until released or aborted. */
function gate() {
  let release!: (value: unknown) => void;
  const released = new Promise((resolve) => (release = resolve));
  const aborted: unknown[] = [];
  const work = (ctx: TaskContext) =>
    new Promise((resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        aborted.push(ctx.signal.reason);
        reject(ctx.signal.reason as Error);
      });
      void released.then(resolve);
    });
  return { work, release, aborted };
}

describe('serveDashboard', () => {
  describe('when a request carries no token or a wrong one', () => {
    it('answers 401 on the page, the API and the event stream', async () => {
      const { base } = await start();
      for (const path of ['/', '/app.js', '/api/tasks', '/events']) {
        expect((await fetch(base + path)).status).toBe(401);
      }
      const wrong = await fetch(`${base}/api/tasks`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
      expect(wrong.status).toBe(401);
      expect((await fetch(`${base}/?token=wrong`, { redirect: 'manual' })).status).toBe(401);
    });
  });

  describe('when the page is opened through dash.url', () => {
    it('trades the token for an HttpOnly SameSite=Strict cookie that then opens everything', async () => {
      const { dash, base } = await start();
      expect(dash.url).toBe(`${base}/?token=${encodeURIComponent(dash.token)}`);
      expect(Buffer.from(dash.token, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      const first = await fetch(dash.url, { redirect: 'manual' });
      expect(first.status).toBe(303);
      expect(first.headers.get('location')).toBe('/');
      const cookie = first.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      const page = await fetch(`${base}/`, { headers: { cookie: cookie.split(';')[0]! } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script type="module" src="app.js">');
    });
  });

  describe('when a script sends the bearer token', () => {
    it('lists the tasks as JSON', async () => {
      const { runner, dash, base } = await start();
      const task = await runner.submit(async () => 42, { name: 'answer' });
      await runner.onIdle();
      const body = (await (await fetch(`${base}/api/tasks`, { headers: bearer(dash) })).json()) as {
        tasks: { id: string; status: string }[];
      };
      expect(body.tasks).toEqual([expect.objectContaining({ id: task.id, name: 'answer', status: 'completed', progress: 1 })]);
      const detail = (await (await fetch(`${base}/api/tasks/${task.id}`, { headers: bearer(dash) })).json()) as Record<string, unknown>;
      expect(detail).toMatchObject({ result: '42' });
      expect((detail.transitions as { to: string }[]).map((t) => t.to)).toEqual(['pending', 'running', 'completed']);
    });
  });

  describe('Host and Origin checks', () => {
    it('answers 403 to a Host that is not the dashboard (DNS rebinding)', async () => {
      const { dash, base } = await start();
      const { request } = await import('node:http');
      const status = await new Promise<number>((resolve) => {
        request(`${base}/api/tasks`, { headers: { ...bearer(dash), host: 'evil.example:80' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).end();
      });
      expect(status).toBe(403);
      expect((await fetch(`http://localhost:${dash.port}/api/tasks`, { headers: bearer(dash) })).status).toBe(200);
    });

    it('answers 403 to a POST from another origin, and to a cookie POST without an Origin', async () => {
      const { runner, dash, base } = await start();
      const { work } = gate();
      const task = await runner.submit(work);
      const cookie = (await fetch(dash.url, { redirect: 'manual' })).headers.get('set-cookie')!.split(';')[0]!;
      const url = `${base}/api/tasks/${task.id}/cancel`;
      expect((await fetch(url, { method: 'POST', headers: { cookie, origin: 'http://evil.example' } })).status).toBe(403);
      expect((await fetch(url, { method: 'POST', headers: { ...bearer(dash), origin: 'http://evil.example' } })).status).toBe(403);
      const { request } = await import('node:http');
      const noOrigin = await new Promise<number>((resolve) => {
        request(url, { method: 'POST', headers: { cookie } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).end();
      });
      expect(noOrigin).toBe(403);
      expect(task.status).toBe('running');
      const same = await fetch(url, { method: 'POST', headers: { cookie, origin: base } });
      expect(await same.json()).toEqual({ cancelled: true });
      expect(task.status).toBe('cancelled');
    });
  });

  describe('actions', () => {
    it("cancels a running task through POST /api/tasks/:id/cancel, aborting the work's signal", async () => {
      const { runner, dash, base } = await start();
      const { work, aborted } = gate();
      const task = await runner.submit(work);
      const response = await fetch(`${base}/api/tasks/${task.id}/cancel`, { method: 'POST', headers: bearer(dash) });
      expect(await response.json()).toEqual({ cancelled: true });
      expect(task.status).toBe('cancelled');
      expect(aborted).toHaveLength(1);
    });

    it('pauses, resumes and changes concurrency, and rejects a bad concurrency with the one error shape', async () => {
      const { runner, dash, base } = await start();
      const post = (path: string, body?: unknown) =>
        fetch(base + path, {
          method: 'POST',
          headers: { ...bearer(dash), 'content-type': 'application/json' },
          body: body === undefined ? null : JSON.stringify(body),
        });
      expect(await (await post('/api/runner/pause')).json()).toMatchObject({ paused: true });
      expect(runner.isPaused).toBe(true);
      expect(await (await post('/api/runner/resume')).json()).toMatchObject({ paused: false });
      expect(await (await post('/api/runner/concurrency', { concurrency: 7 })).json()).toMatchObject({ concurrency: 7 });
      expect(runner.config.maxConcurrentTasks).toBe(7);
      const bad = await post('/api/runner/concurrency', { concurrency: 0 });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({ error: 'Expected `maxConcurrentTasks` to be a positive integer, got `0` (number)' });
    });

    it('answers 405 to every POST when readOnly, and to a GET on a POST route', async () => {
      const { runner, dash, base } = await start({ readOnly: true });
      const { work } = gate();
      const task = await runner.submit(work);
      for (const path of [`/api/tasks/${task.id}/cancel`, '/api/runner/pause', '/api/runner/resume']) {
        const response = await fetch(base + path, { method: 'POST', headers: bearer(dash) });
        expect(response.status).toBe(405);
      }
      expect(task.status).toBe('running');
      expect(runner.isPaused).toBe(false);
      expect((await fetch(`${base}/api/runner/pause`, { headers: bearer(dash) })).status).toBe(405);
      const panel = (await (await fetch(`${base}/api/tasks`, { headers: bearer(dash) })).json()) as { runner: { readOnly: boolean } };
      expect(panel.runner.readOnly).toBe(true);
    });
  });

  describe('headers', () => {
    it("sends a strict Content-Security-Policy (script-src 'self', no inline) on the page", async () => {
      const { dash, base } = await start();
      const page = await fetch(`${base}/`, { headers: bearer(dash) });
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await page.text()).not.toMatch(/<script>|style=/);
    });
  });

  describe('values', () => {
    it('passes results and errors through redact, and truncates long ones', async () => {
      const { runner, dash, base } = await start({
        maxValueLength: 20,
        redact: (value, field) => (field === 'result' ? { ...(value as object), secret: '***' } : value),
      });
      const ok = await runner.submit(async () => ({ secret: 'hunter2' }));
      const failed = await runner.submit(async () => {
        throw new Error('x'.repeat(100));
      });
      await runner.onIdle();
      const get = async (id: string) =>
        (await (await fetch(`${base}/api/tasks/${id}`, { headers: bearer(dash) })).json()) as Record<string, unknown>;
      expect((await get(ok.id)).result).toBe('{"secret":"***"}');
      const error = (await get(failed.id)).error as { message: string };
      expect(error.message).toBe(`${'x'.repeat(20)}… (80 more characters)`);
    });
  });

  describe('options', () => {
    it('throws when host is not loopback and no token is given', async () => {
      const runner = new BackgroundRunner();
      await expect(serveDashboard(runner, { host: '0.0.0.0', port: 0 })).rejects.toThrow(
        /Expected `token` to be set explicitly when `host` is not a loopback address \("0\.0\.0\.0"\)/,
      );
      await expect(serveDashboard(runner, { token: 'short', port: 0 })).rejects.toThrow(
        'Expected `token` to be a string of at least 16 characters, got `"short"` (string)',
      );
      await expect(serveDashboard(runner, { port: -1 })).rejects.toThrow(/Expected `port` to be an integer from 0 to 65535/);
      await expect(serveDashboard({} as never)).rejects.toThrow(
        /Expected `runner` to be a BackgroundRunner, { store } or a DashboardSource/,
      );
    });

    it('serves on a non-loopback host when a token is given', async () => {
      const { dash } = await start({ host: '0.0.0.0', token: 'a-long-enough-secret-token' });
      expect(dash.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/\?token=a-long-enough-secret-token$/);
      expect((await fetch(`http://127.0.0.1:${dash.port}/api/tasks`, { headers: bearer(dash) })).status).toBe(403); // Host not the bound one
    });
  });

  describe("when a running task's transitions leave the log (#14)", () => {
    it("still shows the task's whole log, creation first", async () => {
      const { runner, dash, base } = await start({}, { maxConcurrentTasks: 10 });
      const a = gate();
      const task = await runner.submit(a.work, { name: 'long' });
      // 3,000 tasks × 3 transitions: more than the 8,192 the log holds.
      const others = 3_000;
      let completed = 0;
      const allCompleted = new Promise<void>((resolve) => {
        runner.on('completed', () => {
          if (++completed === others) resolve();
        });
      });
      const noop = async () => undefined;
      for (let i = 0; i < others; i += 1) void runner.submit(noop);
      await allCompleted;
      a.release('done');
      await runner.onIdle();
      const detail = (await (await fetch(`${base}/api/tasks/${task.id}`, { headers: bearer(dash) })).json()) as {
        transitions: { from: string | null; to: string; event: string }[];
      };
      expect(detail.transitions.map((t) => [t.from, t.to, t.event])).toEqual([
        [null, 'pending', 'submit'],
        ['pending', 'running', expect.any(String)],
        ['running', 'completed', 'done'],
      ]);
    });
  });

  describe('/events', () => {
    it('starts with a snapshot, sends one event per transition, and resumes from Last-Event-ID', async () => {
      const { runner, dash, base } = await start();
      const first = new SseClient();
      open.push(first);
      expect(await first.open(`${base}/events`, bearer(dash))).toBe(200);
      await first.next((e) => e.event === 'snapshot');
      const a = gate();
      const task = await runner.submit(a.work, { name: 'a' });
      await first.next((e) => e.event === 'transition' && JSON.parse(e.data).to === 'running');
      const resumeFrom = first.lastId!;
      first.close();

      // Transitions while no one is connected.
      a.release('done');
      await runner.onIdle();
      const second = new SseClient();
      open.push(second);
      await second.open(`${base}/events`, { ...bearer(dash), 'last-event-id': resumeFrom });
      const completed = await second.next((e) => e.event === 'transition');
      expect(JSON.parse(completed.data)).toMatchObject({ to: 'completed', from: 'running', event: 'done', task: { id: task.id } });
      expect(second.events.some((e) => e.event === 'snapshot')).toBe(false);
      expect(Number(completed.id)).toBe(Number(resumeFrom) + 1);
    });

    it('sends a fresh snapshot when the missed events have left the history', async () => {
      const { runner, dash, base } = await start({ historySize: 2 });
      for (let i = 0; i < 5; i += 1) await runner.submit(async () => i);
      await runner.onIdle();
      const client = new SseClient();
      open.push(client);
      await client.open(`${base}/events`, { ...bearer(dash), 'last-event-id': '1' });
      const snapshot = await client.next((e) => e.event === 'snapshot');
      expect(JSON.parse(snapshot.data).tasks).toHaveLength(5);
    });

    it('sends one fresh snapshot instead of a burst larger than the history (#14)', async () => {
      const { runner, dash, base } = await start({ historySize: 50 });
      const client = new SseClient();
      open.push(client);
      await client.open(`${base}/events`, bearer(dash));
      await client.next((e) => e.event === 'snapshot');
      const noop = async () => undefined;
      for (let i = 0; i < 100; i += 1) void runner.submit(noop);
      await runner.onIdle();
      const snapshot = await client.next((e) => e.event === 'snapshot' && client.events.indexOf(e) > 0);
      expect(JSON.parse(snapshot.data).tasks.length).toBeGreaterThan(0);
      // Fewer than the burst's 300 transitions went out one by one, and the ids stay resumable.
      expect(client.events.filter((e) => e.event === 'transition').length).toBeLessThan(300);
      expect(Number(snapshot.id)).toBeGreaterThanOrEqual(300);
    });

    it('coalesces progress and sends heartbeats', async () => {
      const { runner, dash, base } = await start({ heartbeatMs: 20, progressMs: 30 });
      const client = new SseClient();
      open.push(client);
      await client.open(`${base}/events`, bearer(dash));
      await client.next((e) => e.event === 'heartbeat');
      const a = gate();
      await runner.submit(async (ctx: TaskContext) => {
        for (let i = 1; i <= 100; i += 1) ctx.reportProgress(i / 100);
        return a.work(ctx);
      });
      const progress = await client.next((e) => e.event === 'progress');
      expect(JSON.parse(progress.data).task.progress).toBe(1);
      a.release(null);
      await runner.onIdle();
      expect(client.events.filter((e) => e.event === 'progress').length).toBeLessThan(5);
    });
  });
});
