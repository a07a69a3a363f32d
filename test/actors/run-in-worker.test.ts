import fc from 'fast-check';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskCancelledError, TaskFailedError, TaskTimeoutError } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';
import { createWorkerPool, WorkerLoadError, workerTask } from '../../src/worker/worker.js';

// Worker threads are real: these tests use real time, and wait on events, not sleeps.
const fixtures = new URL('../fixtures/worker-tasks.mjs', import.meta.url);
const pool = createWorkerPool({ maxThreads: 2 });

afterAll(async () => {
  await pool.destroy();
});

function task(exportName: string) {
  return workerTask(fixtures, exportName, { pool });
}

/** Resolves with the task once `event` fires for it. */
function next<T>(
  runner: BackgroundRunner,
  event: 'progress' | 'started',
  match: (payload: { task: BackgroundTask }) => boolean = () => true,
) {
  return new Promise<T>((resolve) => {
    const listener = (payload: { task: BackgroundTask }) => {
      if (!match(payload)) return;
      runner.off(event, listener);
      resolve(payload as T);
    };
    runner.on(event, listener);
  });
}

describe('workerTask', () => {
  describe('when the export returns', () => {
    it('completes the task with the value, called with the args and a context', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('add'), { args: [2, 3] });
      expect(await submitted.wait()).toEqual({ sum: 5, taskId: submitted.id, attempt: 1, isMainThread: false });
      expect(submitted.name).toBe('add');
    });

    it('round-trips structured data: Maps, Sets, Dates, typed arrays, bigints', async () => {
      const runner = new BackgroundRunner();
      const value = {
        map: new Map([['a', 1]]),
        set: new Set([1, 2]),
        date: new Date(0),
        bytes: new Uint8Array([1, 2, 3]),
        big: 10n ** 20n,
        nested: [{ deep: [null, undefined, 'x'] }],
      };
      const submitted = await runner.submit(task('echo'), { args: [value] });
      expect(await submitted.wait()).toEqual(value);
    });

    it('gives each retry its attempt number', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('failOnFirstAttempt'), { retries: 1 });
      expect(await submitted.wait()).toBe('attempt 2');
      expect(submitted.attempts.map((a) => a.error.message)).toEqual(['first attempt fails']);
    });
  });

  describe('when the export throws', () => {
    it('fails the task with an error of the same name, message, code, cause and stack', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('fail'), { args: ['bad digest'] });
      await runner.onIdle();
      expect(submitted.status).toBe('failed');
      const error = submitted.error as Error & { code?: string };
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('HashError');
      expect(error.message).toBe('bad digest');
      expect(error.code).toBe('E_HASH');
      expect(error.cause).toBeInstanceOf(RangeError);
      expect((error.cause as Error).message).toBe('inner');
      expect(error.stack).toContain('worker-tasks.mjs');
    });

    it('keeps a NonRetryableError non-retryable across the thread boundary', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('failNonRetryable'), { retries: 3 });
      await runner.onIdle();
      expect(submitted.error).toBeInstanceOf(NonRetryableError);
      expect(submitted.error?.message).toBe('do not retry');
      expect(submitted.attempt).toBe(1);
    });

    it('wraps a thrown non-Error in TaskFailedError with the value as cause', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('throwString'));
      await runner.onIdle();
      expect(submitted.error).toBeInstanceOf(TaskFailedError);
      expect(submitted.error?.cause).toBe('plain string');
    });

    it('fails with a TypeError naming the part of the result that cannot be cloned', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('returnFunction'));
      await runner.onIdle();
      expect(submitted.error).toBeInstanceOf(TypeError);
      expect(submitted.error?.message).toMatch(/result of "returnFunction".*`result\.callback` is a function/);
    });

    it('fails with an error saying the thread died when the export calls process.exit()', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('exitThread'));
      await runner.onIdle();
      expect(submitted.status).toBe('failed');
      expect(submitted.error?.message).toMatch(/worker thread running "exitThread" .* died: worker exited with code: 3/);
      // The pool replaced the thread.
      expect(await (await runner.submit(task('add'), { args: [1, 1] })).wait()).toMatchObject({ sum: 2 });
    });
  });

  describe('when the module is TypeScript and the process has a tsx loader', () => {
    it('loads it in the worker and runs the export', async () => {
      const runner = new BackgroundRunner();
      const typed = workerTask(new URL('../fixtures/typed-task.ts', import.meta.url), 'describeNumber', { pool });
      const submitted = await runner.submit(typed, { args: [7] });
      expect(await submitted.wait()).toBe('7 is odd');
      expect(submitted.message).toBe('typed');
    });
  });

  describe('when the module or the export cannot be loaded', () => {
    it('fails with WorkerLoadError naming the module and the missing export, without retrying', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('nope'), { retries: 2 });
      await runner.onIdle();
      expect(submitted.error).toBeInstanceOf(WorkerLoadError);
      expect(submitted.error?.message).toContain(`export "nope" of ${fixtures.href}`);
      expect(submitted.error?.message).toContain('its exported functions: add, busy');
      expect(submitted.attempt).toBe(1);
    });

    it('says what an export that is not a function is', async () => {
      const runner = new BackgroundRunner();
      const submitted = await runner.submit(task('notAFunction'));
      await runner.onIdle();
      expect(submitted.error?.message).toContain('that export is `42` (number)');
    });

    it('fails with WorkerLoadError naming a module that does not exist', async () => {
      const runner = new BackgroundRunner();
      const missing = new URL('../fixtures/missing.mjs', import.meta.url);
      const submitted = await runner.submit(workerTask(missing, 'run', { pool }));
      await runner.onIdle();
      expect(submitted.error).toBeInstanceOf(WorkerLoadError);
      expect(submitted.error).toMatchObject({ url: missing.href, exportName: 'run' });
      expect(submitted.error?.message).toContain('Cannot find module');
    });
  });

  describe('when an argument cannot be cloned', () => {
    it.each([
      ['a function', [1, { onDone: () => {} }], /argument 1 .*`args\[1\]\.onDone` is a function/],
      ['a symbol', [Symbol('s')], /argument 0 .*`args\[0\]` is a symbol/],
      ['a WeakMap in a Map', [new Map([['k', new WeakMap()]])], /`args\[0\]\.get\("k"\)` is a WeakMap/],
      ['a promise', [[Promise.resolve(1)]], /`args\[0\]\[0\]` is a Promise/],
    ])('rejects the submit with a TypeError for %s, creating no task', async (_kind, args, message) => {
      const runner = new BackgroundRunner();
      await expect(runner.submit(task('echo'), { args })).rejects.toThrow(TypeError);
      await expect(runner.submit(task('echo'), { args })).rejects.toThrow(message);
      expect(runner.tasks).toHaveLength(0);
    });

    it('accepts every JSON value and rejects any value with a function somewhere inside', async () => {
      const runner = new BackgroundRunner();
      runner.pause(); // nothing starts: only the submit-time check runs
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), async (clean, container) => {
          await expect(runner.submit(task('echo'), { args: [clean] })).resolves.toBeDefined();
          const poisoned = { container, inner: [container, { fn: () => clean }] };
          await expect(runner.submit(task('echo'), { args: [clean, poisoned] })).rejects.toThrow(
            /argument 1 .*`args\[1\]\.inner\[1\]\.fn` is a function/,
          );
        }),
        { numRuns: 50 },
      );
      await runner.stop();
    });

    it('accepts cyclic data without looping', async () => {
      const runner = new BackgroundRunner();
      const cyclic: Record<string, unknown> = { name: 'node' };
      cyclic.self = cyclic;
      const submitted = await runner.submit(task('echo'), { args: [cyclic] });
      const result = (await submitted.wait()) as Record<string, unknown>;
      expect(result.self).toBe(result);
    });
  });

  describe('when the export reports progress', () => {
    it('turns every report into a progress event on the main thread, in order, before completed', async () => {
      const runner = new BackgroundRunner();
      const seen: string[] = [];
      runner.on('progress', ({ progress, message }) => seen.push(`${progress}:${message}`));
      runner.on('completed', () => seen.push('completed'));
      const submitted = await runner.submit(task('progress'), { args: [4] });
      await submitted.wait();
      expect(seen).toEqual(['0.25:step 1', '0.5:step 2', '0.75:step 3', '1:step 4', 'completed']);
    });
  });

  describe('when a busy-looping task is cancelled or times out', () => {
    it('terminates its thread, ends the task cancelled, and the pool runs the next task', async () => {
      const single = createWorkerPool({ maxThreads: 1 });
      try {
        const runner = new BackgroundRunner();
        const spinning = next(runner, 'progress');
        const busy = await runner.submit(workerTask(fixtures, 'busy', { pool: single }));
        await spinning; // the loop has started in the thread
        const destroyed = new Promise((resolve) => single.once('workerDestroy', resolve));
        expect(await busy.cancel('enough')).toBe(true);
        expect(busy.status).toBe('cancelled');
        await expect(busy.wait()).rejects.toBeInstanceOf(TaskCancelledError);
        await destroyed;
        // With one thread, this only runs if the looping thread was replaced.
        const after = await runner.submit(workerTask(fixtures, 'add', { pool: single }), { args: [20, 22] });
        expect(await after.wait()).toMatchObject({ sum: 42 });
      } finally {
        await single.destroy();
      }
    });

    it('fails a timed-out task with TaskTimeoutError and terminates its thread', async () => {
      const single = createWorkerPool({ maxThreads: 1 });
      try {
        const runner = new BackgroundRunner();
        // Start the thread first: the timeout counts from the task's start, thread start-up included.
        await (await runner.submit(workerTask(fixtures, 'add', { pool: single }), { args: [0, 0] })).wait();
        const spinning = next(runner, 'progress');
        const destroyed = new Promise((resolve) => single.once('workerDestroy', resolve));
        const busy = await runner.submit(workerTask(fixtures, 'busy', { pool: single }), { timeout: 1_000 });
        await spinning;
        await expect(busy.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
        expect(busy.status).toBe('failed');
        await destroyed;
        const after = await runner.submit(workerTask(fixtures, 'add', { pool: single }), { args: [1, 2] });
        expect(await after.wait()).toMatchObject({ sum: 3 });
      } finally {
        await single.destroy();
      }
    });
  });

  describe('when given bad input', () => {
    it('throws a TypeError for a relative path, pointing to new URL(…, import.meta.url)', () => {
      expect(() => workerTask('./hash.js', 'hashMany')).toThrow(TypeError);
      expect(() => workerTask('./hash.js', 'hashMany')).toThrow(/new URL\("\.\/hash\.js", import\.meta\.url\)/);
    });

    it('throws a TypeError for an empty export name or a pool that is not a pool', () => {
      expect(() => workerTask(fixtures, '')).toThrow('Expected `exportName` to be a non-empty string, got `""` (string)');
      expect(() => workerTask(fixtures, 'add', { pool: {} as never })).toThrow(TypeError);
    });

    it('accepts an absolute path and a file: URL string', () => {
      expect(workerTask(fixtures.pathname, 'add').url).toBe(fixtures.href);
      expect(workerTask(fixtures.href).exportName).toBe('default');
    });
  });
});

describe('workerTask types', () => {
  it('takes the arguments and result type from the worker function type', () => {
    type HashMany = (text: string, rounds: number, context: TaskContext) => string;
    const hash = workerTask<HashMany>(fixtures, 'hashMany', { pool });
    expectTypeOf(hash).parameters.toEqualTypeOf<[string, number, TaskContext]>();
    expectTypeOf(hash).returns.toEqualTypeOf<Promise<string>>();
    const submit = () => new BackgroundRunner().submit(hash, { args: ['x', 1] }); // typed, never called
    expectTypeOf(submit).returns.resolves.toEqualTypeOf<BackgroundTask<string>>();
    type WithoutContext = (n: number) => Promise<number[]>;
    expectTypeOf(workerTask<WithoutContext>(fixtures, 'x', { pool })).parameters.toEqualTypeOf<[number, TaskContext]>();
    type OptionalContext = (n: number, context?: TaskContext) => number;
    expectTypeOf(workerTask<OptionalContext>(fixtures, 'x', { pool })).parameters.toEqualTypeOf<[number, TaskContext]>();
  });
});

describe('createWorkerPool', () => {
  it('throws RangeError/TypeError naming a bad option', () => {
    expect(() => createWorkerPool({ maxThreads: 0 })).toThrow('Expected `maxThreads` to be a positive integer, got `0` (number)');
    expect(() => createWorkerPool({ minThreads: -1 })).toThrow(RangeError);
    expect(() => createWorkerPool({ maxThreads: 1, minThreads: 2 })).toThrow(RangeError);
    expect(() => createWorkerPool({ idleTimeout: '1s' as never })).toThrow(TypeError);
    expect(() => createWorkerPool({ execArgv: [1] as never })).toThrow(TypeError);
  });
});
