import { describe, expect, it } from 'vitest';
import { BackgroundRunner, RunnerStoppedError, isRunnerError } from '../../src/index.js';

describe('BackgroundRunner options', () => {
  it('applies the documented defaults', () => {
    expect(new BackgroundRunner().config).toEqual({
      maxConcurrentTasks: 5,
      defaultTimeout: undefined,
      autoCleanup: true,
      cleanupDelay: 300_000,
      maxFinishedTasks: 10_000,
      rateLimit: undefined,
      groupRateLimit: undefined,
      maxQueueSize: Number.POSITIVE_INFINITY,
      resume: 'requeue',
    });
  });

  it.each([
    [{ maxConcurrentTasks: 0 }, RangeError, 'Expected `maxConcurrentTasks` to be a positive integer, got `0` (number)'],
    [{ maxConcurrentTasks: 1.5 }, RangeError, '`maxConcurrentTasks` to be a positive integer, got `1.5` (number)'],
    [{ maxConcurrentTasks: '3' }, TypeError, '`maxConcurrentTasks` to be a positive integer, got `"3"` (string)'],
    [{ defaultTimeout: -1 }, RangeError, '`defaultTimeout` to be a number of milliseconds from 1 to 2147483647'],
    [{ defaultTimeout: Number.NaN }, TypeError, '`defaultTimeout` to be a number of milliseconds, got `NaN` (number)'],
    [{ defaultTimeout: 2 ** 31 }, RangeError, '`defaultTimeout`'],
    [{ cleanupDelay: -5 }, RangeError, '`cleanupDelay` to be a number of milliseconds from 0'],
    [{ autoCleanup: 'yes' }, TypeError, '`autoCleanup` to be a boolean, got `"yes"` (string)'],
    [{ inspect: 42 }, TypeError, '`inspect` to be an inspection observer or function'],
  ])('rejects %o with a %s naming the option', (options, type, message) => {
    expect(() => new BackgroundRunner(options as never)).toThrow(type);
    expect(() => new BackgroundRunner(options as never)).toThrow(message);
  });
});

describe('BackgroundRunner#submit input checks', () => {
  const runner = new BackgroundRunner();
  it.each([
    [
      'a non-function fn',
      () => runner.submit(42 as never),
      TypeError,
      'Expected `fn` to be a function or the name of a defined handler, got `42` (number)',
    ],
    ['non-array args', () => runner.submit(() => 1, { args: 'x' as never }), TypeError, '`args` to be an array, got `"x"` (string)'],
    ['a negative timeout', () => runner.submit(() => 1, { timeout: -10 }), RangeError, '`timeout` to be a number of milliseconds from 1'],
    ['a NaN timeout', () => runner.submit(() => 1, { timeout: Number.NaN }), TypeError, '`timeout` to be a number of milliseconds'],
    ['an empty name', () => runner.submit(() => 1, { name: '' }), TypeError, '`name` to be a non-empty string'],
    ['a non-function onComplete', () => runner.submit(() => 1, { onComplete: 1 as never }), TypeError, '`onComplete` to be a function'],
    ['array metadata', () => runner.submit(() => 1, { metadata: [] as never }), TypeError, '`metadata` to be an object'],
  ])('rejects %s', async (_label, call, type, message) => {
    await expect(call()).rejects.toThrow(type);
    await expect(call()).rejects.toThrow(message);
    expect(runner.tasks).toHaveLength(0);
  });

  it('rejects submit after stop() with RunnerStoppedError, a TypeError that says what to do', async () => {
    const stopped = new BackgroundRunner();
    await stopped.stop();
    const error = await stopped.submit(() => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunnerStoppedError);
    expect(error).toBeInstanceOf(TypeError);
    expect(isRunnerError(error)).toBe(true);
    expect((error as Error).message).toBe('Cannot submit a task after stop(); create a new BackgroundRunner');
  });
});
