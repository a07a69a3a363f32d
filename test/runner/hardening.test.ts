// Regression tests for issue #12 items 6–9 and issue #11's runtime fixes, through the public API only.
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner, NonRetryableError, TaskCancelledError } from '../../src/index.js';
import type { BackgroundTask, RunnerEvents, TaskContext } from '../../src/index.js';
import { deferred, flushMicrotasks, sleepWork } from '../helpers/tasks.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('observing a task', () => {
  // Issue #12 item 6.
  describe('when a started listener subscribes to the task', () => {
    it('still calls the work, and the task completes', async () => {
      const runner = new BackgroundRunner();
      const seen: string[] = [];
      runner.on('started', ({ task }) => {
        task.subscribe((snapshot) => seen.push(String(snapshot.value)));
      });
      const work = vi.fn(async () => 'done');
      const task = await runner.submit(work);
      await expect(task.wait()).resolves.toBe('done');
      expect(work).toHaveBeenCalledTimes(1);
      expect(seen).toContain('completed');
      await runner.stop();
    });

    it('still arms the timeout', async () => {
      vi.useFakeTimers({ now: 0 });
      const runner = new BackgroundRunner();
      runner.on('started', ({ task }) => void task.actor);
      const task = await runner.submit(() => new Promise(() => undefined), { timeout: 100 });
      const outcome = task.wait().catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(100);
      expect(await outcome).toMatchObject({ name: 'TaskTimeoutError' });
      expect(task.status).toBe('failed');
      await runner.stop();
    });

    it('still runs a retry, and stop({ drain: true }) settles', async () => {
      vi.useFakeTimers({ now: 0 });
      const runner = new BackgroundRunner();
      runner.on('started', ({ task, attempt }) => {
        if (attempt === 2) task.subscribe(() => undefined);
      });
      let calls = 0;
      const task = await runner.submit(
        async () => {
          calls += 1;
          if (calls === 1) throw new Error('first attempt fails');
          return calls;
        },
        { retries: 1, backoff: 50 },
      );
      await vi.advanceTimersByTimeAsync(50);
      await expect(task.wait()).resolves.toBe(2);
      await runner.stop({ drain: true });
      expect(runner.isStopped).toBe(true);
    });

    it('from any one listener, leaves every outcome as it is without observing', async () => {
      const events = ['submitted', 'started', 'retrying', 'progress', 'completed', 'failed'] as const;
      const outcomes = async (observeOn: (typeof events)[number] | undefined) => {
        const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
        if (observeOn) runner.on(observeOn, ({ task }: { task: BackgroundTask }) => void task.subscribe(() => undefined));
        const tasks = [
          await runner.submit(async (ctx: TaskContext) => {
            ctx.reportProgress(0.5);
            return 'a';
          }),
          await runner.submit(async () => {
            throw new Error('b');
          }),
          await runner.submit(async (ctx: TaskContext) => (ctx.attempt === 1 ? Promise.reject(new Error('c')) : 'c'), { retries: 1 }),
        ];
        await runner.waitAll();
        await runner.stop();
        return tasks.map((task) => [task.status, task.result, task.attempt]);
      };
      const unobserved = await outcomes(undefined);
      for (const event of events) expect(await outcomes(event)).toEqual(unobserved);
    });
  });
});

describe('cancel reasons', () => {
  // Issue #12 item 7.
  const bad: [string, unknown][] = [
    ['a symbol', Symbol('x')],
    ['a null-prototype object', Object.create(null)],
    [
      'a proxy whose traps throw',
      new Proxy(
        {},
        {
          get: () => {
            throw new Error('trap');
          },
          ownKeys: () => {
            throw new Error('trap');
          },
        },
      ),
    ],
    ['a number', 42],
  ];

  for (const observed of [false, true]) {
    describe(`when the task ${observed ? 'has' : 'has no'} actor`, () => {
      for (const [what, reason] of bad) {
        it(`rejects ${what} with a TypeError naming \`reason\` and leaves the task running`, async () => {
          const runner = new BackgroundRunner();
          const gate = deferred<string>();
          const task = await runner.submit(() => gate.promise);
          if (observed) void task.actor;
          await expect(runner.cancelTask(task.id, reason as string)).rejects.toThrow(/Expected `reason` to be a string/);
          await expect(task.cancel(reason as string)).rejects.toBeInstanceOf(TypeError);
          await expect(runner.cancelAll(reason as string)).rejects.toBeInstanceOf(TypeError);
          expect(task.status).toBe('running');
          gate.resolve('still fine');
          await expect(task.wait()).resolves.toBe('still fine');
          // The supervisor still serves work.
          await expect((await runner.submit(() => 2)).wait()).resolves.toBe(2);
          await runner.stop();
        });
      }
    });
  }

  it('carries the reason on TaskCancelledError', async () => {
    const runner = new BackgroundRunner();
    const task = await runner.submit(() => new Promise(() => undefined));
    await task.cancel('user closed the tab');
    expect(task.error).toBeInstanceOf(TaskCancelledError);
    expect((task.error as TaskCancelledError).reason).toBe('user closed the tab');
    await runner.stop();
  });

  it('leaves reason undefined when none is given', async () => {
    const runner = new BackgroundRunner();
    const task = await runner.submit(() => new Promise(() => undefined));
    await runner.cancelTask(task.id);
    expect((task.error as TaskCancelledError).reason).toBeUndefined();
    await runner.stop();
  });
});

describe('control calls from a started listener', () => {
  // Issue #12 item 8.
  const blocked = () => new Promise<void>(() => undefined);

  it('pause() holds back the rest of the batch', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 4 });
    runner.once('started', () => runner.pause());
    const tasks = await Promise.all([1, 2, 3, 4].map(() => runner.submit(blocked)));
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['running', 'pending', 'pending', 'pending']);
    runner.resume();
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['running', 'running', 'running', 'running']);
    await runner.stop();
  });

  it('setConcurrency(1) holds back the rest of the batch, and they start in order later', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });
    const started: string[] = [];
    runner.on('started', ({ task }) => {
      started.push(task.name);
      if (task.name === 'a') runner.setConcurrency(1);
    });
    const gates = ['a', 'b', 'c', 'd'].map(() => deferred<void>());
    const tasks = await Promise.all(['a', 'b', 'c', 'd'].map((name, i) => runner.submit(() => gates[i]!.promise, { name })));
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['running', 'pending', 'pending', 'pending']);
    gates[0]!.resolve();
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['completed', 'running', 'pending', 'pending']);
    for (const gate of gates) gate.resolve();
    await runner.onIdle();
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    await runner.stop();
  });

  it('setConcurrency(2) lets exactly one more of the batch start', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 4 });
    runner.once('started', () => runner.setConcurrency(2));
    const tasks = await Promise.all([1, 2, 3, 4].map(() => runner.submit(blocked)));
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['running', 'running', 'pending', 'pending']);
    await runner.stop();
  });

  it('holds the batch back on the supervisor actor path too', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 3 });
    void runner.supervisor; // from now on every event goes through the actor
    runner.once('started', () => runner.pause());
    const tasks = await Promise.all([1, 2, 3].map(() => runner.submit(blocked)));
    await flushMicrotasks();
    expect(tasks.map((task) => task.status)).toEqual(['running', 'pending', 'pending']);
    runner.resume();
    await flushMicrotasks();
    expect(runner.runningTasks).toHaveLength(3);
    await runner.stop();
  });

  it('frees the slot of a task the listener cancelled before it started', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
    const tasks: BackgroundTask[] = [];
    runner.on('submitted', ({ task }) => tasks.push(task));
    runner.once('started', () => {
      void tasks[1]!.cancel();
      runner.setConcurrency(1);
    });
    for (let i = 0; i < 3; i += 1) void runner.submit(sleepWork(1, 'x'));
    await runner.onIdle();
    expect(tasks.map((task) => task.status)).toEqual(['completed', 'cancelled', 'completed']);
    await runner.stop();
  });

  // Found by the fuzz test (seed -848599279): the task was cancelled before its queue entry existed.
  it('drops a task a submitted listener cancelled, and keeps serving the rest', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    const ran: number[] = [];
    runner.on('submitted', ({ task }) => {
      if (task.name === 'cancel-me') void task.cancel('not wanted');
    });
    const dropped = await runner.submit(() => ran.push(1), { name: 'cancel-me' });
    const kept = await runner.submit(() => ran.push(2));
    expect(dropped.status).toBe('cancelled');
    await expect(kept.wait()).resolves.toBe(1);
    await runner.onIdle();
    expect(ran).toEqual([2]);
    expect(runner.supervisor.getSnapshot().context.pending.size).toBe(0);
    await runner.stop();
  });
});

describe('values that throw', () => {
  // Issue #12 item 9.
  it('copies metadata at submit and names a getter that throws', async () => {
    const runner = new BackgroundRunner();
    const metadata = {
      get secret(): string {
        throw new Error('no access');
      },
    };
    await expect(runner.submit(() => 1, { metadata })).rejects.toThrow(/`metadata\.secret`.*no access/);
    const owned = { user: 'ada' };
    const task = await runner.submit(() => 1, { metadata: owned });
    owned.user = 'changed later';
    expect(task.metadata).toEqual({ user: 'ada' });
    expect(() => runner.listTasks()).not.toThrow();
    await runner.stop();
  });

  it('names a metadata proxy whose ownKeys trap throws', async () => {
    const runner = new BackgroundRunner();
    const metadata = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap');
        },
      },
    );
    await expect(runner.submit(() => 1, { metadata })).rejects.toThrow(/`metadata`.*trap/);
    await runner.stop();
  });

  describe('when the clock option’s setTimeout throws', () => {
    const throwingClock = () => ({
      setTimeout: () => {
        throw new Error('clock broke');
      },
      clearTimeout: () => undefined,
    });

    it('fails a task whose timeout cannot be armed, and the runner keeps serving', async () => {
      const runner = new BackgroundRunner({ clock: throwingClock() });
      const errors: unknown[] = [];
      runner.on('error', ({ error, source }) => errors.push([source, (error as Error).message]));
      const task = await runner.submit(() => new Promise(() => undefined), { timeout: 1_000 });
      await expect(task.wait()).rejects.toBeInstanceOf(NonRetryableError);
      expect(task.error?.message).toMatch(/clock\.setTimeout threw.*clock broke/);
      expect(errors).toContainEqual(['clock', 'clock broke']);
      await expect((await runner.submit(() => 'ok')).wait()).resolves.toBe('ok');
      await runner.stop();
    });

    it('keeps the supervisor alive when its cleanup timer cannot be armed', async () => {
      const runner = new BackgroundRunner({ clock: throwingClock(), cleanupDelay: 60_000 });
      runner.on('error', () => undefined);
      const first = await runner.submit(() => 1);
      await first.wait();
      await flushMicrotasks();
      expect(runner.supervisor.getSnapshot().status).toBe('active');
      await expect((await runner.submit(() => 2)).wait()).resolves.toBe(2);
      await runner.stop();
    });

    it('cancels a task whose retry cannot be scheduled', async () => {
      const runner = new BackgroundRunner({ clock: throwingClock() });
      runner.on('error', () => undefined);
      const task = await runner.submit(() => Promise.reject(new Error('flaky')), { retries: 2, backoff: 10 });
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      expect((task.error as TaskCancelledError).reason).toMatch(/clock\.setTimeout threw while arming this task's retry/);
      await runner.stop();
    });
  });
});

describe('a listener added for two events', () => {
  // Issue #11 "Broken" item 3.
  for (const order of [
    ['completed', 'error'],
    ['error', 'completed'],
  ] as const) {
    it(`reports each throw once, added to ${order.join(' then ')}`, async () => {
      const runner = new BackgroundRunner();
      let calls = 0;
      const listener = () => {
        calls += 1;
        throw new Error(`listener call ${calls}`);
      };
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(warning.message);
      process.on('warning', onWarning);
      try {
        for (const event of order) runner.on(event, listener as RunnerEvents['completed']);
        await (await runner.submit(() => 1)).wait();
        await flushMicrotasks();
      } finally {
        process.off('warning', onWarning);
      }
      // Once for 'completed' (throws), once for the 'error' that reports it (throws, and is dropped).
      expect(calls).toBe(2);
      await runner.stop();
    });
  }

  it('removes it from one event only with off()', async () => {
    const runner = new BackgroundRunner();
    const listener = vi.fn();
    runner.on('submitted', listener).on('completed', listener);
    runner.off('submitted', listener);
    expect(runner.listenerCount('submitted')).toBe(0);
    expect(runner.listenerCount('completed')).toBe(1);
    await (await runner.submit(() => 1)).wait();
    expect(listener).toHaveBeenCalledTimes(1);
    await runner.stop();
  });
});

describe('util.inspect', () => {
  it('prints a task as a compact summary', async () => {
    const runner = new BackgroundRunner();
    const task = await runner.submit(() => 'x', { name: 'research' });
    await task.wait();
    const shown = inspect(task);
    expect(shown).toMatch(/^BackgroundTask \{/);
    expect(shown).toContain("name: 'research'");
    expect(shown).toContain("status: 'completed'");
    expect(shown).not.toMatch(/_context|_host|_waiters/);
    await runner.stop();
  });

  it('prints the runner as a compact summary', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
    await runner.submit(() => new Promise(() => undefined));
    const shown = inspect(runner);
    expect(shown).toMatch(/^BackgroundRunner \{/);
    expect(shown).toContain('maxConcurrentTasks: 2');
    expect(shown).toContain('running: 1');
    expect(shown.split('\n').length).toBeLessThan(15);
    await runner.stop();
  });
});

describe('messages that name the problem', () => {
  // Issue #12 item 10.
  it('names `status` in listTasks for a value that is not a status', () => {
    const runner = new BackgroundRunner();
    expect(() => runner.listTasks({ status: 1 as never })).toThrow(
      /^Expected `status` to be a task status \('pending', .*got `1` \(number\)$/,
    );
    expect(() => runner.listTasks({ status: 'bogus' as never })).toThrow(/Expected `status` to be a task status.*got `"bogus"`/);
    expect(() => runner.listTasks({ status: ['running', 'bogus'] as never })).toThrow(/Expected `status\[1\]`/);
    expect(runner.listTasks({ status: ['running', 'pending'] })).toEqual([]);
  });

  it('names the argument path for args nested too deep, without overflowing the stack', async () => {
    // The handler declares the argument: typed named handlers reject args it has no parameter for.
    const runner = new BackgroundRunner().define('job', (_nested: unknown, _context: TaskContext) => 1);
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i += 1) deep = [deep];
    await expect(runner.submit('job', { args: [deep] })).rejects.toThrow(
      /^Expected `args\[0\]\[0\].*` to be JSON data .*nested more than 1000 levels deep/,
    );
    await runner.stop();
  });

  it('describes a revoked proxy and a throwing trap instead of throwing from the message', async () => {
    const runner = new BackgroundRunner();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    await expect(runner.submit(() => 1, { name: proxy as never })).rejects.toThrow(
      /^Expected `name` to be a non-empty string, got `\[object\]` \(object\)$/,
    );
    const trap = new Proxy(
      {},
      {
        get: () => {
          throw new Error('trap');
        },
      },
    );
    await expect(runner.submit(() => 1, { priority: trap as never })).rejects.toThrow(/^Expected `priority` to be a finite number, got /);
    await runner.stop();
  });

  it('says `rateLimit.interval` is missing rather than NaN', () => {
    expect(() => new BackgroundRunner({ rateLimit: { max: 5 } as never })).toThrow(
      /^Expected `rateLimit.interval` to be a number of milliseconds .*got `undefined` \(undefined\)$/,
    );
  });

  it('describes a symbol a worker threw once', async () => {
    const { workerTask } = await import('../../src/worker/worker.js');
    const runner = new BackgroundRunner();
    const task = await runner.submit(workerTask(new URL('../fixtures/throws-values.mjs', import.meta.url), 'throwsSymbol'));
    const error = (await task.wait().catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(
      '"throwsSymbol" threw `Symbol(x)` (symbol), which cannot be copied back to the main thread; throw an Error instead',
    );
    await runner.stop();
  });
});

describe('unknown option keys', () => {
  // Issue #11.
  it.each([
    [{ maxConcurent: 2 }, 'maxConcurent', 'maxConcurrentTasks'],
    [{ concurrency: 2 }, 'concurrency', 'maxConcurrentTasks'],
    [{ timeot: 5 }, 'timeot', 'defaultTimeout'],
    [{ cleanupdelay: 5 }, 'cleanupdelay', 'cleanupDelay'],
  ])('new BackgroundRunner(%o) names the key and the closest option', (options, key, closest) => {
    expect(() => new BackgroundRunner(options as never)).toThrow(
      new TypeError(`Unknown option \`${key}\` in new BackgroundRunner(options): did you mean \`${closest}\`?`),
    );
  });

  it.each([
    [{ timeot: 5 }, 'timeot', 'timeout'],
    [{ retry: 3 }, 'retry', 'retries'],
    [{ priorty: 1 }, 'priorty', 'priority'],
    [{ meta: {} }, 'meta', 'metadata'],
  ])('submit(fn, %o) names the key and the closest option', async (options, key, closest) => {
    const runner = new BackgroundRunner();
    await expect(runner.submit(() => 1, options as never)).rejects.toThrow(
      new TypeError(`Unknown option \`${key}\` in submit(fn, options): did you mean \`${closest}\`?`),
    );
    expect(runner.tasks).toEqual([]);
    await runner.stop();
  });

  it('lists the options when no key is close', () => {
    expect(() => new BackgroundRunner({ zzz: 1 } as never)).toThrow(
      /^Unknown option `zzz` in new BackgroundRunner\(options\): expected one of `maxConcurrentTasks`, /,
    );
  });
});

describe('toJSON() with values JSON cannot write (found by the fuzz test, seed 1230971441)', () => {
  it('puts the not-JSON marker where metadata or a result holds a cycle or a BigInt, so JSON.stringify(task) and listTasks() never throw', async () => {
    const runner = new BackgroundRunner();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const task = await runner.submit(() => ({ n: 1n }), { metadata: { cyclic, plain: 'ok', ['__proto__']: 'data' } });
    await task.wait();
    const json = JSON.parse(JSON.stringify(task)) as { metadata: Record<string, unknown>; result: unknown };
    expect(json.metadata.plain).toBe('ok');
    expect(json.metadata.cyclic).toEqual({
      $tasklane: 'not-json',
      path: 'metadata.cyclic.self',
      found: 'a cycle (an object that contains itself)',
    });
    expect(json.result).toEqual({ $tasklane: 'not-json', path: 'result.n', found: 'a BigInt' });
    expect(Object.hasOwn(task.toJSON().metadata, '__proto__')).toBe(true);
    expect(() => JSON.stringify(runner.listTasks())).not.toThrow();
    await runner.stop();
  });
});
