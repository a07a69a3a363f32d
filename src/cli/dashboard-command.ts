/**
 * `tasklane dashboard --db tasks.db`: the dashboard page over a SQLite store's records, the
 * history of any process that wrote it. Cancel goes through the store's cancel request.
 */
import { parseArgs } from 'node:util';
import { serveDashboard } from '../dashboard/serve-dashboard.js';
import { sqliteStore } from '../store/sqlite/sqlite-store.js';
import type { SqliteTaskStore } from '../store/sqlite/sqlite-store.js';

const USAGE = `Usage: tasklane dashboard --db <path> [options]

Serves the live dashboard page over the tasks in a SQLite store, until Ctrl-C.

Options:
  --db <path>        the SQLite file (default: $TASKLANE_DB)
  --port <n>         the port (default 4400; 0 picks a free one)
  --host <address>   the address to bind (default 127.0.0.1; others need --token)
  --token <secret>   the token (default: a random one, printed in the URL)
  --read-only        no Cancel button; POSTs answer 405
  -h, --help         show this help
`;

interface Io {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Runs `tasklane dashboard` with `argv` (after the word `dashboard`) and resolves with the exit
 * code once `signal` aborts (the bin passes one aborted by SIGINT/SIGTERM).
 * @internal
 */
export async function dashboardCommand(
  argv: readonly string[],
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
  signal: AbortSignal = untilInterrupted(),
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        db: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        token: { type: 'string' },
        'read-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const path = values.db ?? env.TASKLANE_DB;
  if (path === undefined || path === '') {
    io.err(`Missing --db <path> (or set TASKLANE_DB).\n\n${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? 4400 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    io.err(`--port takes an integer from 0 to 65535, got "${values.port}".\n`);
    return 2;
  }
  let store: SqliteTaskStore;
  try {
    store = sqliteStore({ path, mustExist: true });
  } catch (error) {
    io.err(`No task database at ${path} (${(error as Error).message}).\n`);
    return 1;
  }
  try {
    const dash = await serveDashboard({ store }, { port, host: values.host, token: values.token, readOnly: values['read-only'] });
    io.out(`tasklane dashboard for ${store.location}\n${dash.url}\n`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await dash.close();
    return 0;
  } catch (error) {
    io.err(`${(error as Error).message}\n`);
    return 2;
  } finally {
    store.close();
  }
}

/** An AbortSignal aborted by the first SIGINT or SIGTERM. */
function untilInterrupted(): AbortSignal {
  const controller = new AbortController();
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return controller.signal;
}
