// The main demo (`npm start`): eight simulated agent tasks on a runner that runs three at a time,
// with live progress bars. One task times out, one is cancelled, one fails, one succeeds on retry.
// Fits 80 columns. Piped (not a terminal), it prints one line per state change of every task.
import { setTimeout as sleep } from 'node:timers/promises';
import logUpdate from 'log-update';
import pc from 'picocolors';
import { BackgroundRunner, NonRetryableError, TaskCancelledError, TaskTimeoutError } from '../src/index.js';
import type { BackgroundTask, TaskContext, TaskStatus } from '../src/index.js';
import { serveDashboard } from '../src/dashboard/serve-dashboard.js';

/** The width of the name column, and of the whole screen. */
const NAME = 19;
const COLUMNS = 80;

/** Cuts a line to the screen's width, counting only visible characters (not colour codes). */
function fit(text: string): string {
  let visible = 0;
  let out = '';
  // eslint-disable-next-line no-control-regex -- splits out ANSI colour codes, which take no columns
  for (const part of text.split(/(\u001b\[[0-9;]*m)/)) {
    if (part.startsWith('\u001b[')) {
      out += part;
      continue;
    }
    const room = COLUMNS - visible;
    out += part.length > room ? `${part.slice(0, Math.max(0, room - 1))}…` : part;
    visible += Math.min(part.length, room);
  }
  return out;
}

/** A stand-in for an agent step: `steps` chunks of work of `stepMs` each, reporting progress. */
function simulatedAgent(label: string, steps: number, stepMs: number) {
  return async function agent(topic: string, { signal, reportProgress }: TaskContext): Promise<string> {
    for (let step = 1; step <= steps; step += 1) {
      await sleep(stepMs, undefined, { signal }); // rejects at once when the task is cancelled or times out
      reportProgress(step / steps, `${label} ${step}/${steps}`);
    }
    return `${label} done: ${topic}`;
  };
}

let flakyCalls = 0;
/** Fails its first attempt, as a rate-limited API might; the task retries once. */
async function flakyApi(query: string, { signal, reportProgress, attempt }: TaskContext): Promise<string> {
  flakyCalls += 1;
  reportProgress(0.3, `calling, attempt ${attempt}`);
  await sleep(700, undefined, { signal });
  if (flakyCalls === 1) throw new Error('429 Too Many Requests');
  reportProgress(1, 'answered');
  return `answer to ${query}`;
}

async function reviewCode(file: string, { signal, reportProgress }: TaskContext): Promise<string> {
  reportProgress(0.4, `reading ${file}`);
  await sleep(1_200, undefined, { signal });
  throw new NonRetryableError('the model returned invalid JSON');
}

const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });

// --- Dashboard (tasklane/dashboard): open this URL to watch the tasks live. ---------
// `npm start -- --keep-open` keeps it (and the finished tasks) up after the run, until Ctrl+C.
const keepOpen = process.argv.includes('--keep-open');
const dashboard = await serveDashboard(runner, { port: 0 });
console.log(`${pc.bold('Dashboard')}: ${dashboard.url}`);
console.log(
  pc.dim(keepOpen ? 'It stays open after the run: Ctrl+C to quit.\n' : '(npm start -- --keep-open keeps it open after the run)\n'),
);
// ------------------------------------------------------------------------------------
const started = Date.now();
const live = process.stdout.isTTY;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

// Listeners go on before the first submit: the first three tasks start inside submit().
runner.on('started', ({ task }) => {
  // Cancel the long report two seconds after it starts.
  if (task.name === 'report (cancelled)') setTimeout(() => void task.cancel('the user changed their mind'), 2_000);
});
if (!live) {
  // Not a terminal (piped, CI): one line per state change instead of redrawing.
  const log = (event: string, task: BackgroundTask, detail = '') =>
    console.log(
      fit(`${seconds(Date.now() - started).padStart(5)} ${event.padEnd(9)} ${task.name.padEnd(NAME)} ${pc.dim(detail)}`.trimEnd()),
    );
  runner.on('submitted', ({ task }) => log('pending', task));
  runner.on('started', ({ task, attempt }) => log('running', task, `attempt ${attempt}`));
  runner.on('retrying', ({ task, error, attempt, delayMs }) =>
    log('retrying', task, `attempt ${attempt} failed: ${error.message}; again in ${delayMs} ms`),
  );
  runner.on('completed', ({ task }) => log('completed', task, String(task.result)));
  runner.on('failed', ({ task }) => log('failed', task, reason(task)));
  runner.on('cancelled', ({ task }) => log('cancelled', task, reason(task)));
}

const writer = {
  name: 'writer',
  async start(prompt: string, { signal }: { signal?: AbortSignal } = {}): Promise<string> {
    await sleep(1_500, undefined, { signal });
    return `A short essay on ${prompt}`;
  },
};

const tasks: BackgroundTask[] = [
  await runner.submit(simulatedAgent('searching', 5, 400), { args: ['AI trends'], name: 'research' }),
  await runner.submit(simulatedAgent('reading', 4, 300), { args: ['the Q3 report'], name: 'summarise' }),
  await runner.submit(simulatedAgent('crawling', 10, 500), { args: ['example.com'], name: 'scrape (times out)', timeout: 1_800 }),
  await runner.submit(flakyApi, {
    args: ['weather in Oslo'],
    name: 'flaky api (retries)',
    retries: 1,
    backoff: { type: 'fixed', delay: 300 },
  }),
  await runner.submit(simulatedAgent('drafting', 12, 400), { args: ['a long report'], name: 'report (cancelled)' }),
  await runner.submit(reviewCode, { args: ['src/index.ts'], name: 'code review (fails)' }),
  await runner.submitAgent(writer, 'actor models', { name: 'writer agent' }),
  await runner.submit(simulatedAgent('translating', 3, 350), { args: ['hello world'], name: 'translate', priority: 1 }),
];

const STYLE: Record<TaskStatus, (s: string) => string> = {
  pending: pc.dim,
  running: pc.cyan,
  retrying: pc.yellow,
  completed: pc.green,
  failed: pc.red,
  cancelled: pc.magenta,
  lost: pc.red,
};
const ICON: Record<TaskStatus, string> = {
  pending: '·',
  running: '▶',
  retrying: '↻',
  completed: '✔',
  failed: '✖',
  cancelled: '■',
  lost: '?',
};

function bar(progress: number, width = 12): string {
  const filled = Math.round(progress * width);
  return `${'█'.repeat(filled)}${pc.dim('░'.repeat(width - filled))}`;
}

/** Why a task did not complete, in a few words. */
function reason(task: BackgroundTask): string {
  const error = task.error;
  if (error instanceof TaskTimeoutError) return `timed out after ${error.timeoutMs} ms`;
  if (error instanceof TaskCancelledError) return error.message.replace(/^Task "[^"]+" was /, '');
  return error?.message ?? '';
}

function line(task: BackgroundTask): string {
  const style = STYLE[task.status];
  const duration = task.durationMs === undefined ? '' : seconds(task.durationMs);
  const detail = task.isCompleted && !task.isSuccessful ? reason(task) : (task.message ?? '');
  return fit(
    [
      style(`${ICON[task.status]} ${task.name.padEnd(NAME)}`),
      bar(task.progress),
      `${String(Math.round(task.progress * 100)).padStart(3)}%`,
      style(task.status.padEnd(9)),
      duration.padStart(5),
      pc.dim(detail),
    ].join(' '),
  );
}

function frame(): string {
  const running = runner.runningTasks.length;
  const header = pc.bold(`tasklane demo — ${running}/3 slots busy, ${seconds(Date.now() - started)}`);
  return [header, ...tasks.map(line)].join('\n');
}

if (live) {
  const render = () => logUpdate(frame());
  const interval = setInterval(render, 100);
  for (const event of ['started', 'progress', 'retrying', 'completed', 'failed', 'cancelled'] as const) runner.on(event, render);
  await runner.waitAll();
  clearInterval(interval);
  render();
  logUpdate.done();
} else {
  await runner.waitAll();
  console.log(frame());
}

const count = (status: TaskStatus) => tasks.filter((task) => task.status === status).length;
console.log(
  `\n${pc.bold('Summary')}: ${pc.green(`${count('completed')} completed`)}, ${pc.red(`${count('failed')} failed`)}, ` +
    `${pc.magenta(`${count('cancelled')} cancelled`)} in ${seconds(Date.now() - started)}, at most 3 at a time`,
);
for (const task of tasks) {
  const outcome = task.isSuccessful ? pc.green(String(task.result)) : pc.red(`${task.error?.name}: ${reason(task)}`);
  console.log(fit(`  ${task.name.padEnd(NAME)} ${outcome}${task.attempt > 1 ? pc.dim(` (attempt ${task.attempt})`) : ''}`));
}
if (keepOpen) {
  console.log(`\n${pc.bold('Dashboard')} still open: ${dashboard.url} (Ctrl+C to quit)`);
  await new Promise((resolve) => process.once('SIGINT', resolve));
}
await runner.stop();
await dashboard.close();
