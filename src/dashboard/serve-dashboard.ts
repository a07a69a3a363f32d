/**
 * `tasklane/dashboard`: a live web page over a runner (or any {@link DashboardSource}), served by
 * Node's own `http` with Server-Sent Events. Nothing to build and nothing fetched from a CDN: the
 * page, its module and its stylesheet ship in the package.
 *
 * @example
 * ```ts
 * import { serveDashboard } from 'tasklane/dashboard';
 * const dash = await serveDashboard(runner, { port: 4400 });
 * console.log(dash.url); // http://127.0.0.1:4400/?token=…
 * ```
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BackgroundRunner } from '../runner/background-runner.js';
import { checkPositiveInteger, invalid } from '../validate.js';
import { chartOf } from './chart.js';
import { EventFeed } from './event-feed.js';
import { PAGE_HTML, PAGE_SCRIPT, PAGE_STYLE } from './page.js';
import { RunnerSource } from './runner-source.js';
import type { DashboardSource } from './source.js';
import { StoreSource } from './store-source.js';
import type { ReadableTaskStore } from './store-source.js';
import type { RedactField, Render } from './views.js';

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** The TCP port; `0` picks a free one (read it from `dash.port`). @defaultValue 4400 */
  port?: number | undefined;
  /**
   * The address to bind. Anything but a loopback address (`127.0.0.1`, `::1`, `localhost`) needs an
   * explicit `token`, since the page can cancel tasks. @defaultValue `'127.0.0.1'`
   */
  host?: string | undefined;
  /** The secret every request must carry (at least 16 characters). @defaultValue 192 random bits */
  token?: string | undefined;
  /** Show only: every POST answers 405 and the page hides its buttons. @defaultValue false */
  readOnly?: boolean | undefined;
  /**
   * Called with every value before the page shows it (results, error messages, progress messages,
   * streamed items, metadata); return what may be shown. Runs before truncation.
   */
  redact?: ((value: unknown, field: RedactField) => unknown) | undefined;
  /** The longest text shown for one value, in characters. @defaultValue 2000 */
  maxValueLength?: number | undefined;
  /**
   * More `Host` header values to accept (`'tasks.internal:8080'`), for a reverse proxy. The bound
   * address and, on loopback, `localhost` are always accepted; any other `Host` gets 403, which
   * stops DNS-rebinding pages from reaching the dashboard.
   */
  allowedHosts?: readonly string[] | undefined;
  /** How often the event stream sends a heartbeat, in ms. @defaultValue 15000 */
  heartbeatMs?: number | undefined;
  /** The longest a task's progress waits before it is sent (progress is coalesced per task). @defaultValue 250 */
  progressMs?: number | undefined;
  /** How many events are kept so a reconnecting page resumes where it stopped. @defaultValue 5000 */
  historySize?: number | undefined;
}

/** A running dashboard: what {@link serveDashboard} resolves with. */
export interface Dashboard {
  /** Opens the page with its token: `http://127.0.0.1:4400/?token=…`. The page swaps it for a cookie. */
  readonly url: string;
  /** The secret: send it as `Authorization: Bearer <token>` from scripts. */
  readonly token: string;
  /** The port bound (useful with `port: 0`). */
  readonly port: number;
  /** The `(req, res)` handler, to mount the dashboard in a server of your own as well. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Ends every event stream, closes the server and stops listening to the runner. Idempotent. */
  close(): Promise<void>;
}

const DEFAULTS = { port: 4400, host: '127.0.0.1', maxValueLength: 2_000, heartbeatMs: 15_000, progressMs: 250, historySize: 5_000 };

/** Headers on every response: nothing runs that the page did not ship, nothing is framed or cached. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);

/** Whether `host` only ever reaches this machine. */
function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isRunner(value: unknown): value is BackgroundRunner {
  const v = value as Partial<BackgroundRunner> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.listTasks === 'function' &&
    typeof v.on === 'function' &&
    typeof v.cancelTask === 'function'
  );
}

/** The history of a task store (`sqliteStore({ path })`), polled every `pollMs` (default 500). */
export interface StoreHistory {
  store: ReadableTaskStore;
  pollMs?: number | undefined;
}

function isStoreHistory(value: unknown): value is StoreHistory {
  const store = (value as Partial<StoreHistory> | null)?.store as Partial<ReadableTaskStore> | undefined;
  return typeof store?.list === 'function' && typeof store.get === 'function' && typeof store.requestCancel === 'function';
}

function isSource(value: unknown): value is DashboardSource {
  const v = value as Partial<DashboardSource> | null;
  return typeof v === 'object' && v !== null && typeof v.tasks === 'function' && typeof v.subscribe === 'function';
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Serves the dashboard for `runner` and resolves once it listens.
 *
 * The page shows every task the runner holds, live (one Server-Sent Event per transition, progress
 * a few times per second), with Cancel, Pause/Resume and concurrency controls unless `readOnly`.
 * It binds loopback and demands a random token on every request; open `dash.url` to trade the
 * token for an HttpOnly cookie. Scripts send `Authorization: Bearer <token>`.
 *
 * Routes: `GET /` (the page), `GET /events` (SSE; `Last-Event-ID` resumes), `GET /api/tasks`,
 * `GET /api/tasks/:id`, `GET /api/chart`, `POST /api/tasks/:id/cancel`,
 * `POST /api/runner/pause`, `POST /api/runner/resume`, `POST /api/runner/concurrency`
 * (`{"concurrency": n}`).
 *
 * @param runner - a `BackgroundRunner`; or `{ store }`, a task store's history (read-only but for
 *   cancel, which becomes the store's cancel request); or any {@link DashboardSource}.
 * @returns the running dashboard; `close()` it when done (its timers never hold the process open).
 * @throws TypeError naming the option for a bad option, and when `host` is not loopback but no
 *   `token` was given.
 *
 * @example
 * ```ts
 * const dash = await serveDashboard(runner, { port: 4400 });
 * console.log(`Dashboard: ${dash.url}`);
 * process.on('SIGINT', () => void dash.close());
 * ```
 */
export async function serveDashboard(
  runner: BackgroundRunner | StoreHistory | DashboardSource,
  options: DashboardOptions = {},
): Promise<Dashboard> {
  if (options === null || typeof options !== 'object') invalid('options', 'an object', options);
  if (!isRunner(runner) && !isStoreHistory(runner) && !isSource(runner)) {
    invalid('runner', 'a BackgroundRunner, { store } or a DashboardSource', runner);
  }
  const host = options.host ?? DEFAULTS.host;
  if (typeof host !== 'string' || host === '') invalid('host', 'a non-empty string', host);
  const port = options.port ?? DEFAULTS.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) invalid('port', 'an integer from 0 to 65535', port);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) {
    invalid('token', 'a string of at least 16 characters', options.token);
  }
  if (options.token === undefined && !isLoopback(host)) {
    invalid(
      'token',
      `set explicitly when \`host\` is not a loopback address (${JSON.stringify(host)}), since anyone who reaches the port could cancel tasks`,
      undefined,
    );
  }
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== 'boolean') invalid('readOnly', 'a boolean', readOnly);
  if (options.redact !== undefined && typeof options.redact !== 'function') invalid('redact', 'a function', options.redact);
  const maxValueLength = checkPositiveInteger('maxValueLength', options.maxValueLength ?? DEFAULTS.maxValueLength);
  const heartbeatMs = checkPositiveInteger('heartbeatMs', options.heartbeatMs ?? DEFAULTS.heartbeatMs);
  const progressMs = checkPositiveInteger('progressMs', options.progressMs ?? DEFAULTS.progressMs);
  const historySize = checkPositiveInteger('historySize', options.historySize ?? DEFAULTS.historySize);
  const allowedHosts = options.allowedHosts ?? [];
  if (!Array.isArray(allowedHosts) || allowedHosts.some((h) => typeof h !== 'string'))
    invalid('allowedHosts', 'an array of strings', allowedHosts);

  const token = options.token ?? randomBytes(24).toString('base64url');
  const render: Render = { maxLength: maxValueLength, redact: options.redact };
  const pollMs = isStoreHistory(runner) ? checkPositiveInteger('pollMs', runner.pollMs ?? 500) : 0;
  const runnerSource = isRunner(runner)
    ? new RunnerSource(runner, render, readOnly, historySize)
    : isStoreHistory(runner)
      ? new StoreSource(runner.store, render, readOnly)
      : undefined;
  const source: DashboardSource = runnerSource ?? (runner as DashboardSource);
  runnerSource?.open(pollMs);
  const feed = new EventFeed(source, { heartbeatMs, progressMs, historySize });

  const server = createServer();
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    runnerSource?.close();
    throw error;
  }
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const hosts = new Set<string>([`${urlHost}:${bound}`, ...allowedHosts.map((h: string) => h.toLowerCase())]);
  if (isLoopback(host)) for (const name of ['127.0.0.1', 'localhost', '[::1]']) hosts.add(`${name}:${bound}`);
  const handler = createHandler({ source, feed, token, readOnly, hosts, cookie: `tasklane_dashboard_${bound}` });
  server.on('request', handler);
  feed.open();

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${bound}/?token=${encodeURIComponent(token)}`,
    token,
    port: bound,
    handler,
    close() {
      closed ??= new Promise<void>((resolve) => {
        feed.close();
        runnerSource?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

interface HandlerParts {
  source: DashboardSource;
  feed: EventFeed;
  token: string;
  readOnly: boolean;
  /** Accepted `Host` values, lower case. */
  hosts: Set<string>;
  cookie: string;
}

/** The request handler: Host check, token check, Origin check on POST, then the routes. */
function createHandler(parts: HandlerParts): (req: IncomingMessage, res: ServerResponse) => void {
  const { source, feed, token, readOnly, hosts, cookie } = parts;
  const tokenDigest = digest(token);
  const matches = (candidate: string | undefined): boolean => candidate !== undefined && timingSafeEqual(digest(candidate), tokenDigest);
  const chart = JSON.stringify(chartOf());

  const send = (res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, value: unknown): void =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
  const fail = (res: ServerResponse, status: number, message: string, extra?: Record<string, string>): void =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify({ error: message }), extra);

  return (req, res) => {
    const handle = async (): Promise<void> => {
      const hostHeader = (req.headers.host ?? '').toLowerCase();
      if (!hosts.has(hostHeader))
        return fail(res, 403, `Host ${JSON.stringify(hostHeader)} is not this dashboard's; add it to \`allowedHosts\``);
      const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      const path = url.pathname;
      const method = req.method ?? 'GET';

      // The page's first load through `dash.url`: trade the token in the query for a cookie.
      const queryToken = url.searchParams.get('token');
      if (method === 'GET' && path === '/' && queryToken !== null) {
        if (!matches(queryToken)) return fail(res, 401, 'Wrong token: open the URL the dashboard printed');
        return send(res, 303, 'text/plain; charset=utf-8', 'See /', {
          location: '/',
          'set-cookie': `${cookie}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        });
      }

      const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const viaCookie = readCookie(req.headers.cookie, cookie);
      const byBearer = matches(bearer);
      if (!byBearer && !matches(viaCookie)) {
        return fail(res, 401, 'Missing or wrong token: open the URL the dashboard printed, or send Authorization: Bearer <token>', {
          'www-authenticate': 'Bearer',
        });
      }

      if (method === 'POST') {
        // A page of another origin must not act through the user's cookie (CSRF); scripts with the
        // bearer token send no Origin at all.
        const origin = req.headers.origin;
        if (origin !== undefined ? !hosts.has(originHost(origin)) : !byBearer) {
          return fail(res, 403, `Origin ${JSON.stringify(origin ?? null)} may not act on this dashboard`);
        }
      }

      const route = routeOf(method, path);
      if (route === undefined) return fail(res, 404, `No route ${method} ${path}`);
      if (route.kind === 'wrong-method') return fail(res, 405, `${path} takes ${route.allow}`, { allow: route.allow });
      if (route.kind === 'post' && readOnly) return fail(res, 405, 'This dashboard is read-only', { allow: 'GET' });

      switch (route.name) {
        case 'page':
          return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
        case 'script':
          return send(res, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
        case 'style':
          return send(res, 200, 'text/css; charset=utf-8', PAGE_STYLE);
        case 'events':
          return feed.attach(req, res, SECURITY_HEADERS);
        case 'tasks':
          return json(res, 200, { tasks: source.tasks(), runner: source.runner() });
        case 'task': {
          const detail = source.task(route.id!);
          return detail ? json(res, 200, detail) : fail(res, 404, `No task ${JSON.stringify(route.id)}`);
        }
        case 'chart':
          return send(res, 200, 'application/json; charset=utf-8', chart);
        case 'cancel':
          return json(res, 200, { cancelled: await source.cancel(route.id!) });
        case 'pause':
        case 'resume': {
          if (!source[route.name]) return fail(res, 405, `This dashboard cannot ${route.name}`);
          source[route.name]?.();
          return json(res, 200, source.runner());
        }
        case 'concurrency': {
          if (!source.setConcurrency) return fail(res, 405, 'This dashboard cannot change concurrency');
          const body = await readBody(req, 1_024);
          let value: unknown;
          try {
            value = (JSON.parse(body) as { concurrency?: unknown }).concurrency;
          } catch {
            return fail(res, 400, 'Expected a JSON body {"concurrency": n}');
          }
          try {
            source.setConcurrency(value as number);
          } catch (error) {
            return fail(res, 400, (error as Error).message);
          }
          return json(res, 200, source.runner());
        }
      }
    };
    handle().catch((error: unknown) => {
      if (!res.headersSent) fail(res, 500, error instanceof Error ? error.message : String(error));
      else res.destroy();
    });
  };
}

type RouteName = 'page' | 'script' | 'style' | 'events' | 'tasks' | 'task' | 'chart' | 'cancel' | 'pause' | 'resume' | 'concurrency';
type Route = { kind: 'get' | 'post'; name: RouteName; id?: string } | { kind: 'wrong-method'; allow: string; name?: undefined };

/** Matches a method and path to a route; `undefined` for an unknown path. */
function routeOf(method: string, path: string): Route | undefined {
  const get = (name: RouteName, id?: string): Route =>
    method === 'GET' || method === 'HEAD'
      ? { kind: 'get', name, ...(id === undefined ? {} : { id }) }
      : { kind: 'wrong-method', allow: 'GET' };
  const post = (name: RouteName, id?: string): Route =>
    method === 'POST' ? { kind: 'post', name, ...(id === undefined ? {} : { id }) } : { kind: 'wrong-method', allow: 'POST' };
  if (path === '/' || path === '/index.html') return get('page');
  if (path === '/app.js') return get('script');
  if (path === '/app.css') return get('style');
  if (path === '/events') return get('events');
  if (path === '/api/tasks') return get('tasks');
  if (path === '/api/chart') return get('chart');
  if (path === '/api/runner/pause') return post('pause');
  if (path === '/api/runner/resume') return post('resume');
  if (path === '/api/runner/concurrency') return post('concurrency');
  const cancel = /^\/api\/tasks\/([^/]+)\/cancel$/.exec(path);
  if (cancel) return post('cancel', decodeURIComponent(cancel[1]!));
  const task = /^\/api\/tasks\/([^/]+)$/.exec(path);
  if (task) return get('task', decodeURIComponent(task[1]!));
  return undefined;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `http://127.0.0.1:4400` → `127.0.0.1:4400`; anything unparsable → `''`. */
function originHost(origin: string): string {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host.toLowerCase() : '';
  } catch {
    return '';
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > limit) {
        reject(new RangeError(`Request body over ${limit} bytes`));
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export type { DashboardSource, SourceMessage } from './source.js';
export type { RedactField, RunnerView, TaskDetailView, TaskView, TransitionView, AttemptView } from './views.js';
export type { ChartView } from './chart.js';
