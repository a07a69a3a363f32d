import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { BackgroundRunner, UnknownHandlerError, isRunnerError } from '../../src/index.js';
import type { BackgroundTask, TaskContext } from '../../src/index.js';

describe('BackgroundRunner named handlers', () => {
  describe('define and submit by name', () => {
    it('runs the handler with the JSON args and a context, named after the handler', async () => {
      const runner = new BackgroundRunner();
      runner.define('research', async (topic: string, depth: number, ctx: TaskContext) => `${topic}:${depth}:${ctx.taskId}`);
      const task = await runner.submit<string>('research', { args: ['AI', 2] });
      await expect(task.wait()).resolves.toBe(`AI:2:${task.id}`);
      expect(task.name).toBe('research');
      expect(task.status).toBe('completed');
    });

    it('keeps the other submit options: name, retries, priority', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      let calls = 0;
      runner.define('flaky', () => {
        calls += 1;
        if (calls === 1) throw new Error('first try fails');
        return 'ok';
      });
      const task = await runner.submit('flaky', { name: 'custom', retries: 1 });
      await expect(task.wait()).resolves.toBe('ok');
      expect([task.name, task.attempt]).toEqual(['custom', 2]);
    });

    it('types a named task by the result type given, and a function task by its return type', () => {
      const runner = new BackgroundRunner().define('n', () => 1);
      const loose = new BackgroundRunner(); // define() not chained: the compiler does not know its handlers
      loose.define('n', () => 1);
      expectTypeOf(loose.submit<number>('n')).toEqualTypeOf<Promise<BackgroundTask<number>>>();
      expectTypeOf(runner.submit('n')).toEqualTypeOf<Promise<BackgroundTask<number>>>(); // #11: named tasks typed end to end
      expectTypeOf(runner.submit(async () => 'x')).toEqualTypeOf<Promise<BackgroundTask<string>>>();
    });

    it('lists the defined names and chains definitions', () => {
      const runner = new BackgroundRunner().define('a', () => 1).define('b', () => 2);
      expect(runner.handlers).toEqual(['a', 'b']);
    });

    it('still accepts functions next to names', async () => {
      const runner = new BackgroundRunner();
      runner.define('double', (x: number) => x * 2);
      const [named, fn] = await Promise.all([runner.submit('double', { args: [2] }), runner.submit((x: number) => x + 1, { args: [2] })]);
      expect(await Promise.all([named.wait(), fn.wait()])).toEqual([4, 3]);
    });
  });

  describe('when a definition or a name is wrong', () => {
    it('rejects defining a name twice', () => {
      const runner = new BackgroundRunner().define('research', () => 1);
      expect(() => runner.define('research', () => 2)).toThrow(
        new TypeError('A handler named "research" is already defined; each name can be defined once per runner'),
      );
    });

    it('rejects an empty name and a non-function handler', () => {
      const runner = new BackgroundRunner();
      expect(() => runner.define('', () => 1)).toThrow('Expected `name` to be a non-empty string, got `""` (string)');
      expect(() => runner.define('x', 'nope' as never)).toThrow('Expected `handler` to be a function, got `"nope"` (string)');
    });

    it('rejects an unknown name with UnknownHandlerError that lists the defined ones', async () => {
      const runner = new BackgroundRunner().define('research', () => 1);
      // @ts-expect-error -- #11: an unknown name is a compile error where the registry is known
      const error: unknown = await runner.submit('reserch').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownHandlerError);
      expect(isRunnerError(error)).toBe(true);
      expect((error as Error).message).toBe(
        'No handler named "reserch"; define it first with runner.define("reserch", fn) (defined: "research")',
      );
    });
  });

  describe('when an argument is not JSON data', () => {
    const runner = new BackgroundRunner().define('work', (..._args: unknown[]) => 1);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [string, unknown[], string][] = [
      ['a function', [1, () => 2], "Expected `args[1]` to be JSON data (named tasks' arguments are stored as JSON), got a function"],
      ['a nested function', [{ cb: function done() {} }], 'Expected `args[0].cb` to be JSON data'],
      [
        'a cyclic object',
        [cyclic],
        "Expected `args[0].self` to be JSON data (named tasks' arguments are stored as JSON), got a cyclic reference",
      ],
      ['a BigInt', [10n], 'got a BigInt `10n`: JSON cannot hold it; pass it as a string'],
      [
        'undefined inside an array',
        [[1, undefined]],
        "Expected `args[0][1]` to be JSON data (named tasks' arguments are stored as JSON), got `undefined`",
      ],
      ['undefined as an argument', ['a', undefined], 'Expected `args[1]`'],
      [
        'a Date',
        [{ when: new Date(0) }],
        "Expected `args[0].when` to be JSON data (named tasks' arguments are stored as JSON), got a Date: pass date.toISOString()",
      ],
      ['NaN', [Number.NaN], 'got `NaN`: JSON turns it into null'],
      ['a Map', [new Map()], 'got an instance of Map'],
      ['an odd key', [{ 'a b': Symbol('s') }], 'Expected `args[0]["a b"]` to be JSON data'],
    ];
    it.each(cases)('rejects %s at submit time with a TypeError naming the argument', async (_what, args, message) => {
      const error: unknown = await runner.submit('work', { args }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain(message);
    });

    it('accepts any JSON value, and undefined object properties', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.jsonValue()), async (args) => {
          const task = await runner.submit('work', { args: [...args, { dropped: undefined }] });
          await task.wait();
        }),
        { numRuns: 100 },
      );
    });

    it('does not check the args of function submits', async () => {
      const task = await runner.submit((f: () => number) => f(), { args: [() => 5] });
      await expect(task.wait()).resolves.toBe(5);
    });
  });
});
