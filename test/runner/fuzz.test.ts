// Issue #12: a fuzz test of the public surface. Every call with arbitrary arguments either succeeds
// or fails with a typed error that names the option (a TypeError/RangeError of the library's one
// shape, or a RunnerError); nothing crashes, hangs or leaves an unhandled rejection; and the runner
// still serves good work afterwards. 10,000 calls in CI; `FUZZ_CALLS=200000 npx vitest run
// test/runner/fuzz.test.ts` (and `FUZZ_SEED=…` to replay) for a long run.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, isRunnerError } from '../../src/index.js';
import type { BackgroundConfig, BackgroundTask, RunnerEventName, TaskContext } from '../../src/index.js';

const CALLS = Number(process.env['FUZZ_CALLS'] ?? 10_000);
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
const OPS_PER_RUN = 40;

// ---------------------------------------------------------------- values

/** Values that have broken libraries before: they must all be refused politely or accepted. */
function nasty(): unknown[] {
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();
  const throwing = new Proxy(
    {},
    {
      get: () => {
        throw new Error('trap: get');
      },
      ownKeys: () => {
        throw new Error('trap: ownKeys');
      },
      getPrototypeOf: () => {
        throw new Error('trap: getPrototypeOf');
      },
    },
  );
  const getter = {
    get boom(): never {
      throw new Error('getter');
    },
  };
  let deep: unknown = 1;
  for (let i = 0; i < 5_000; i += 1) deep = [deep];
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  return [
    Symbol('s'),
    Object.create(null),
    revoked,
    throwing,
    getter,
    deep,
    cycle,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -1,
    0,
    1.5,
    2 ** 31,
    10n,
    '',
    'pending',
    'bogus',
    [],
    [Symbol('in an array')],
    new Map(),
    new Date(0),
    () => undefined,
    null,
    undefined,
    true,
  ];
}

/**
 * A nasty value, handed to fast-check wrapped: it inspects generated values (a revoked proxy
 * throws there). `unwrap` takes it out right before the call.
 */
class Wrapped {
  constructor(readonly index: number) {}
  get value(): unknown {
    return NASTY[this.index];
  }
  [fc.toStringMethod](): string {
    return `NASTY[${this.index}]`;
  }
}
const NASTY = nasty();

/** The value itself, and an object's own properties, unwrapped (one level: where options live). */
function unwrap(value: unknown): unknown {
  if (value instanceof Wrapped) return value.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype)
    return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, unwrap(v)]));
}

const weird: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.nat(NASTY.length - 1).map((i) => new Wrapped(i)) },
  { weight: 2, arbitrary: fc.anything({ maxDepth: 2 }) },
);

/** A valid value from `valid` most of the time, else something weird, else the key left out. */
const maybe = <T>(valid: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 3, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: weird }), {
    nil: undefined,
    freq: 3,
  });

type WorkKind = 'value' | 'async' | 'throws' | 'throwsValue' | 'never' | 'progress' | 'badProgress' | 'stream';
const workKind = fc.constantFrom<WorkKind>('value', 'async', 'throws', 'throwsValue', 'never', 'progress', 'badProgress', 'stream');

function work(kind: WorkKind): (...args: unknown[]) => unknown {
  switch (kind) {
    case 'value':
      return () => 'v';
    case 'async':
      return async () => 'a';
    case 'throws':
      return () => {
        throw new Error('work failed');
      };
    case 'throwsValue':
      return () => Promise.reject(Symbol('thrown'));
    case 'never':
      return (...args: unknown[]) =>
        new Promise((_, reject) => (args.at(-1) as TaskContext).signal.addEventListener('abort', () => reject(new Error('aborted'))));
    case 'progress':
      return (...args: unknown[]) => {
        (args.at(-1) as TaskContext).reportProgress(0.5, 'half');
        return 'p';
      };
    case 'badProgress':
      return (...args: unknown[]) => {
        (args.at(-1) as TaskContext).reportProgress(7);
      };
    case 'stream':
      return async function* () {
        yield 1;
        yield 2;
      };
  }
}

const submitOptions = fc.record(
  {
    args: maybe(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 })),
    name: maybe(fc.string({ minLength: 1, maxLength: 8 })),
    timeout: maybe(fc.integer({ min: 1, max: 2_000 })),
    metadata: maybe(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })),
    priority: maybe(fc.integer({ min: -5, max: 5 })),
    group: maybe(fc.constantFrom('a', 'b')),
    retries: maybe(fc.nat(2)),
    backoff: maybe(fc.oneof(fc.nat(200), fc.record({ type: fc.constantFrom('fixed', 'exponential'), delay: fc.nat(200) }))),
    retryOnTimeout: maybe(fc.boolean()),
    onComplete: maybe(fc.constant(() => undefined)),
    onProgress: maybe(fc.constant(() => undefined)),
    onChunk: maybe(fc.constant(() => undefined)),
    // A misspelt option, sometimes.
    timeot: fc.option(fc.nat(), { nil: undefined, freq: 10 }),
  },
  { requiredKeys: [] },
);

const runnerOptions = fc.record(
  {
    maxConcurrentTasks: maybe(fc.integer({ min: 1, max: 4 })),
    defaultTimeout: maybe(fc.integer({ min: 1, max: 2_000 })),
    autoCleanup: maybe(fc.boolean()),
    cleanupDelay: maybe(fc.constantFrom(0, 100, 300_000)),
    rateLimit: maybe(fc.record({ max: fc.integer({ min: 1, max: 3 }), interval: fc.integer({ min: 1, max: 500 }) })),
    groupRateLimit: maybe(fc.record({ max: fc.integer({ min: 1, max: 3 }), interval: fc.integer({ min: 1, max: 500 }) })),
    maxQueueSize: maybe(fc.integer({ min: 1, max: 20 })),
    resume: maybe(fc.constantFrom('requeue', 'mark-lost')),
    maxConcurent: fc.option(fc.nat(), { nil: undefined, freq: 10 }),
  },
  { requiredKeys: [] },
);

const EVENTS: RunnerEventName[] = ['submitted', 'started', 'retrying', 'progress', 'completed', 'failed', 'cancelled', 'idle', 'error'];

/** What a listener does: nothing, throw, or call back into the runner. */
type Reaction = 'nothing' | 'throw' | 'pause' | 'resume' | 'shrink' | 'grow' | 'cancel' | 'observe' | 'submit' | 'list';
const reaction = fc.constantFrom<Reaction>('nothing', 'throw', 'pause', 'resume', 'shrink', 'grow', 'cancel', 'observe', 'submit', 'list');

type Op =
  | { op: 'submit'; kind: WorkKind; options: Record<string, unknown> }
  | { op: 'submitWeird'; fn: unknown; options: unknown }
  | { op: 'submitNamed'; name: unknown; options: Record<string, unknown> }
  | { op: 'define'; name: unknown; handler: unknown }
  | { op: 'submitAgent'; agent: unknown; prompt: unknown; options: unknown }
  | { op: 'cancelTask'; index: number; reason: unknown }
  | { op: 'cancelById'; id: unknown; reason: unknown }
  | { op: 'taskCancel'; index: number; reason: unknown }
  | { op: 'cancelAll'; reason: unknown }
  | { op: 'wait'; index: number; options: unknown }
  | { op: 'observe'; index: number }
  | { op: 'pause' }
  | { op: 'resume' }
  | { op: 'setConcurrency'; n: unknown }
  | { op: 'listTasks'; options: unknown }
  | { op: 'getTask'; id: unknown }
  | { op: 'waitAll'; options: unknown }
  | { op: 'on'; event: RunnerEventName; reaction: Reaction; once: boolean }
  | { op: 'offAll'; event: unknown }
  | { op: 'clearCompleted' }
  | { op: 'toJSON'; index: number }
  | { op: 'newRunner'; options: unknown }
  | { op: 'advance'; ms: number };

const index = fc.nat(30);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('submit' as const), kind: workKind, options: submitOptions }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('submitWeird' as const), fn: weird, options: fc.oneof(weird, submitOptions) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('submitNamed' as const),
      name: fc.oneof(fc.constantFrom('job', 'missing'), weird),
      options: submitOptions,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('define' as const),
      name: fc.oneof(fc.constant('job'), weird),
      handler: fc.oneof(
        fc.constant(() => 'named'),
        weird,
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('submitAgent' as const),
      agent: fc.oneof(fc.constant({ name: 'bot', chat: async (prompt: string) => `re: ${prompt}` }), weird),
      prompt: fc.oneof(fc.string({ maxLength: 5 }), weird),
      options: fc.oneof(submitOptions, weird),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('cancelTask' as const), index, reason: fc.oneof(fc.string({ maxLength: 5 }), weird) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('cancelById' as const), id: weird, reason: fc.oneof(fc.constant(undefined), weird) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('taskCancel' as const), index, reason: fc.oneof(fc.string({ maxLength: 5 }), weird) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancelAll' as const), reason: fc.oneof(fc.string({ maxLength: 5 }), weird) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('wait' as const),
      index,
      options: fc.oneof(fc.constant({ timeout: 50 }), fc.constant(undefined), weird),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('observe' as const), index }) },
  { weight: 1, arbitrary: fc.constant({ op: 'pause' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'resume' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setConcurrency' as const), n: fc.oneof(fc.integer({ min: 1, max: 4 }), weird) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('listTasks' as const),
      options: fc.oneof(fc.record({ status: fc.constantFrom('running', ['pending', 'failed']) }), weird, fc.record({ status: weird })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getTask' as const), id: weird }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('waitAll' as const), options: fc.oneof(fc.constant({ timeout: 100 }), weird) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('on' as const), event: fc.constantFrom(...EVENTS), reaction, once: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('offAll' as const), event: fc.oneof(fc.constantFrom(...EVENTS), weird) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clearCompleted' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('toJSON' as const), index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('newRunner' as const), options: fc.oneof(runnerOptions, weird) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 600 }) }) },
);

// ---------------------------------------------------------------- checks

/** The only ways a call may fail: a typed error that says what to pass. */
function isPoliteError(error: unknown): boolean {
  if (isRunnerError(error)) return true;
  if (!(error instanceof TypeError || error instanceof RangeError)) return false;
  return /^(Expected `[^`]+` to |Expected the arguments of .+? to be readable |Unknown option `.*` in |A handler named )/.test(
    error.message,
  );
}

class Impolite extends Error {
  override name = 'Impolite';
}

/** Runs a call; returns normally if it succeeded or failed politely (sync throw or rejection). */
async function call(what: string, fn: () => unknown): Promise<void> {
  let result: unknown;
  try {
    result = fn();
    if (result instanceof Promise)
      await step(
        what,
        Promise.race([result, Promise.resolve()]).catch(() => undefined),
      );
  } catch (error) {
    if (!isPoliteError(error)) throw new Impolite(`${what} threw ${String(error)}`, { cause: error });
    return;
  }
  if (result instanceof Promise) {
    // Settles later (a wait, say): check it then, without holding the sequence up.
    result.then(undefined, (error: unknown) => {
      if (!isPoliteError(error) && !what.startsWith('wait')) impolite.push(`${what} rejected with ${String(error)}`);
      if (what.startsWith('wait') && !(error instanceof Error)) impolite.push(`${what} rejected with a non-Error ${String(error)}`);
    });
  }
}

let impolite: string[] = [];

// Real timers, read before any test installs fake ones: a watchdog that turns a hang into a failure
// naming the step, so fast-check can shrink it.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
async function step<T>(what: string, promise: Promise<T> | T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`hung: ${what}`)), 3_000);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    realClearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the property

describe('the public surface under fuzzing (fast-check)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it(`answers ${CALLS} arbitrary calls with success or a typed error, and keeps serving good work`, { timeout: 120_000 }, async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    let calls = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          runnerOptions,
          fc.array(op, { minLength: OPS_PER_RUN / 2, maxLength: OPS_PER_RUN * 1.5, size: 'max' }),
          async (options, ops) => {
            impolite = [];
            let runner: BackgroundRunner;
            try {
              runner = new BackgroundRunner(unwrap(options) as BackgroundConfig);
            } catch (error) {
              calls += 1;
              expect(isPoliteError(error), String(error)).toBe(true);
              runner = new BackgroundRunner();
            }
            runner.define('job', () => 'named');
            const tasks: BackgroundTask[] = [];
            runner.on('submitted', ({ task }) => void tasks.push(task));
            const pick = (i: number) => tasks[i % Math.max(1, tasks.length)];
            let submittedFromListener = false;
            const react = (r: Reaction) => (payload: { task?: BackgroundTask }) => {
              switch (r) {
                case 'throw':
                  throw new Error('listener threw');
                case 'pause':
                  return runner.pause();
                case 'resume':
                  return runner.resume();
                case 'shrink':
                  return runner.setConcurrency(1);
                case 'grow':
                  return runner.setConcurrency(4);
                case 'cancel':
                  return void payload.task?.cancel('from a listener');
                case 'observe':
                  return void payload.task?.subscribe(() => undefined);
                case 'submit':
                  // Once per listener: a listener that submits on every 'submitted' loops forever by design.
                  if (submittedFromListener) return undefined;
                  submittedFromListener = true;
                  return void runner.submit(() => 'from a listener').catch(() => undefined);
                case 'list':
                  return void runner.listTasks();
                default:
                  return undefined;
              }
            };

            for (const raw of ops) {
              const o = Object.fromEntries(Object.entries(raw).map(([key, value]) => [key, unwrap(value)])) as Op;
              calls += 1;
              switch (o.op) {
                case 'submit':
                  await call('submit', () => runner.submit(work(o.kind), o.options));
                  break;
                case 'submitWeird':
                  await call('submit', () => runner.submit(o.fn as () => unknown, o.options as never));
                  break;
                case 'submitNamed':
                  await call('submit(name)', () => runner.submit(o.name as string, o.options));
                  break;
                case 'define':
                  await call('define', () => runner.define(o.name as string, o.handler as () => unknown));
                  break;
                case 'submitAgent':
                  await call('submitAgent', () => runner.submitAgent(o.agent as object, o.prompt as string, o.options as never));
                  break;
                case 'cancelTask':
                  await call('cancelTask', () => runner.cancelTask(pick(o.index)?.id ?? 'none', o.reason as string));
                  break;
                case 'cancelById':
                  await call('cancelTask', () => runner.cancelTask(o.id as string, o.reason as string));
                  break;
                case 'taskCancel':
                  await call('task.cancel', () => pick(o.index)?.cancel(o.reason as string));
                  break;
                case 'cancelAll':
                  await call('cancelAll', () => runner.cancelAll(o.reason as string));
                  break;
                case 'wait':
                  await call('wait', () => pick(o.index)?.wait(o.options as never));
                  break;
                case 'observe':
                  await call('observe', () => pick(o.index)?.subscribe(() => undefined));
                  break;
                case 'pause':
                  await call('pause', () => runner.pause());
                  break;
                case 'resume':
                  await call('resume', () => runner.resume());
                  break;
                case 'setConcurrency':
                  await call('setConcurrency', () => runner.setConcurrency(o.n as number));
                  break;
                case 'listTasks':
                  await call('listTasks', () => runner.listTasks(o.options as never));
                  break;
                case 'getTask':
                  await call('getTask', () => runner.getTask(o.id as string));
                  break;
                case 'waitAll':
                  await call('waitAll', () => runner.waitAll(o.options as never));
                  break;
                case 'on': {
                  const listener = react(o.reaction);
                  if (o.once) runner.once(o.event, listener as never);
                  else runner.on(o.event, listener as never);
                  break;
                }
                case 'offAll':
                  await call('removeAllListeners', () => runner.removeAllListeners(o.event as RunnerEventName));
                  runner.on('submitted', ({ task }) => void tasks.push(task));
                  break;
                case 'clearCompleted':
                  runner.clearCompleted();
                  break;
                case 'toJSON':
                  await call('toJSON', () => JSON.stringify(pick(o.index)));
                  break;
                case 'newRunner':
                  await call('new BackgroundRunner', () => void new BackgroundRunner(o.options as BackgroundConfig).stop());
                  break;
                case 'advance':
                  await step('advance', vi.advanceTimersByTimeAsync(o.ms));
                  break;
              }
            }

            // Everything ends: cancelling leaves no task active, at once.
            runner.removeAllListeners();
            await step('cancelAll', runner.cancelAll());
            await step('flush', vi.advanceTimersByTimeAsync(0));
            expect(runner.isIdle).toBe(true);
            for (const task of tasks) expect(task.isCompleted, `${task.name} is ${task.status}`).toBe(true);

            // And the runner still serves good work.
            runner.resume();
            runner.setConcurrency(2);
            const good = await step(
              'good submit',
              runner.submit(async (x: number) => x * 2, { args: [21] }),
            );
            await step('advance', vi.advanceTimersByTimeAsync(1_000)); // past any rate-limit window
            expect(good.status, 'the good task').toBe('completed');
            await expect(step('good wait', good.wait())).resolves.toBe(42);
            await step('stop', runner.stop());
            await step('flush', vi.advanceTimersByTimeAsync(0));
            expect(impolite).toEqual([]);
          },
        ),
        { numRuns: Math.ceil(CALLS / OPS_PER_RUN), seed: SEED },
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
      warn.mockRestore();
    }
    expect(unhandled).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(CALLS * 0.8);
  });
});
