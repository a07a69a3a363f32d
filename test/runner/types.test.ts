import { describe, expectTypeOf, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskContext, TaskSnapshot, TaskStatus } from '../../src/index.js';

describe('types', () => {
  it('infers the result type from the work, async or sync', () => {
    const runner = new BackgroundRunner();
    expectTypeOf(runner.submit(async (topic: string) => topic.length, { args: ['x'] })).resolves.toEqualTypeOf<BackgroundTask<number>>();
    expectTypeOf(runner.submit((ctx: TaskContext) => ctx.taskId)).resolves.toEqualTypeOf<BackgroundTask<string>>();
    expectTypeOf<BackgroundTask<number>['wait']>().returns.resolves.toEqualTypeOf<number>();
    expectTypeOf<BackgroundTask<number>['result']>().toEqualTypeOf<number | undefined>();
  });

  it('infers the result and chunk types of work that streams', () => {
    const runner = new BackgroundRunner();
    async function* items() {
      yield 1;
    }
    async function* summed() {
      yield 'a';
      return 42;
    }
    expectTypeOf(runner.submit(items)).resolves.toEqualTypeOf<BackgroundTask<number[]>>();
    expectTypeOf(runner.submit(summed)).resolves.toEqualTypeOf<BackgroundTask<number>>();
    expectTypeOf(runner.submit(summed, { collect: (chunks) => chunks.join('') })).resolves.toEqualTypeOf<BackgroundTask<string>>();
    runner.submit(items, { onChunk: (chunk) => expectTypeOf(chunk).toEqualTypeOf<number>() });
  });

  it('types listener payloads and snapshots', () => {
    const runner = new BackgroundRunner();
    runner.on('failed', ({ task, error }) => {
      expectTypeOf(task).toEqualTypeOf<BackgroundTask>();
      expectTypeOf(error).toEqualTypeOf<Error>();
    });
    runner.on('progress', ({ progress, message, chunk }) => {
      expectTypeOf(chunk).toEqualTypeOf<unknown>();
      expectTypeOf(progress).toEqualTypeOf<number>();
      expectTypeOf(message).toEqualTypeOf<string | undefined>();
    });
    expectTypeOf<TaskSnapshot['context']['progress']>().toEqualTypeOf<number>();
    expectTypeOf<BackgroundTask['status']>().toEqualTypeOf<TaskStatus>();
  });

  it('accepts a typed task where an untyped one is expected', () => {
    expectTypeOf<BackgroundTask<number>>().toExtend<BackgroundTask>();
  });
});
