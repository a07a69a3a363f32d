// Type tests compiled against the packed package (`dist/*.d.ts`), as a user's project sees it.
// Each `@ts-expect-error` is a mistake that must not compile; `expectTypeOf` pins what is inferred.
// Issue #11 ("Types that catch mistakes").
import { expectTypeOf } from 'vitest';
import { BackgroundRunner, BackgroundTask } from 'tasklane';
import type { RunnerConfig, TaskContext, TaskRegistry, TaskSummary } from 'tasklane';

const runner = new BackgroundRunner();

// --- submit(fn, { args }): args checked against the parameters before the context
expectTypeOf(runner.submit(async (topic: string) => topic.length, { args: ['AI'] })).resolves.toEqualTypeOf<BackgroundTask<number>>();
expectTypeOf(runner.submit((a: number, b: number, ctx: TaskContext) => a + b + ctx.attempt, { args: [1, 2] })).resolves.toEqualTypeOf<
  BackgroundTask<number>
>();
expectTypeOf(runner.submit((ctx: TaskContext) => ctx.taskId)).resolves.toEqualTypeOf<BackgroundTask<string>>();
expectTypeOf(runner.submit(() => 'done')).resolves.toEqualTypeOf<BackgroundTask<string>>();
// @ts-expect-error -- wrong type
void runner.submit(async (n: number) => n, { args: ['x'] });
// @ts-expect-error -- too few
void runner.submit(async (a: string, b: string) => a + b, { args: ['x'] });
// @ts-expect-error -- too many: the extra item and the context would be dropped
void runner.submit(async (a: string) => a, { args: ['x', 'y'] });
// @ts-expect-error -- no args for work that takes one: it would get the context
void runner.submit(async (topic: string) => topic);
const fromVariables: [string, number] = ['a', 1];
void runner.submit((s: string, n: number) => s.repeat(n), { args: fromVariables });
void runner.submit((s: string, n: number) => s.repeat(n), { args: ['a', 1] as const });

// --- an inline function's context is typed without an annotation
void runner.submit(
  async (topic: string, { signal, reportProgress, attempt }) => {
    expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
    expectTypeOf(reportProgress).toEqualTypeOf<(fraction: number, message?: string) => void>();
    expectTypeOf(attempt).toEqualTypeOf<number>();
    return topic;
  },
  { args: ['AI trends'] },
);

// --- the context-in-an-optional-parameter trap
function greet(name: string, greeting = 'Hello'): string {
  return `${greeting}, ${name}`;
}
// @ts-expect-error -- `greeting` would receive the context
void runner.submit(greet, { args: ['Ada'] });
void runner.submit(greet, { args: ['Ada', 'Hi'] });
// @ts-expect-error -- a rest parameter would receive the context: Math.max(1, 2, context) is NaN
void runner.submit(Math.max, { args: [1, 2] });
const numbers: number[] = [1, 2];
// @ts-expect-error -- the same with a rest parameter of your own
void runner.submit((...values: number[]) => values.length, { args: numbers });

// --- work that streams; collect keeps its type when onChunk uses its task parameter
async function* words(count: number, { signal }: TaskContext) {
  for (let i = 0; i < count && !signal.aborted; i += 1) yield `w${i}`;
}
expectTypeOf(runner.submit(words, { args: [3] })).resolves.toEqualTypeOf<BackgroundTask<string[]>>();
expectTypeOf(
  runner.submit(words, {
    args: [3],
    collect: (items) => items.join(' '),
    onChunk: (chunk, task) => {
      expectTypeOf(chunk).toEqualTypeOf<string>();
      expectTypeOf(task).toEqualTypeOf<BackgroundTask<string>>();
    },
  }),
).resolves.toEqualTypeOf<BackgroundTask<string>>();
expectTypeOf(
  runner.submit(
    async function* () {
      yield 1;
    },
    { collect: (items: number[]) => items.length, onComplete: (task) => expectTypeOf(task.result).toEqualTypeOf<number | undefined>() },
  ),
).resolves.toEqualTypeOf<BackgroundTask<number>>();

// --- named tasks, typed end to end when the registry is known (define() chained)
const named = new BackgroundRunner()
  .define('research', async (topic: string, ctx: TaskContext) => ({ topic, attempt: ctx.attempt }))
  .define('sum', (a: number, b: number) => a + b)
  .define('tick', () => 'tick');
expectTypeOf(named.submit('research', { args: ['AI'] })).resolves.toEqualTypeOf<BackgroundTask<{ topic: string; attempt: number }>>();
expectTypeOf(named.submit('sum', { args: [1, 2] })).resolves.toEqualTypeOf<BackgroundTask<number>>();
expectTypeOf(named.submit('tick')).resolves.toEqualTypeOf<BackgroundTask<string>>();
// @ts-expect-error -- unknown name
void named.submit('reserch', { args: ['AI'] });
// @ts-expect-error -- wrong argument type
void named.submit('sum', { args: [1, '2'] });
// @ts-expect-error -- missing args
void named.submit('research');
expectTypeOf(named).toExtend<BackgroundRunner>(); // a typed runner goes wherever a runner does
// A runner whose handlers the compiler cannot see (define() as a statement): any name, result by hand.
runner.define('later', async (topic: string) => topic);
expectTypeOf(runner.submit<string>('later', { args: ['x'] })).resolves.toEqualTypeOf<BackgroundTask<string>>();
expectTypeOf(runner.submit('later', { args: ['x'] })).resolves.toEqualTypeOf<BackgroundTask<unknown>>();

// --- submitAgent infers the result from start, else chat, else run
const starter = { name: 'starter', start: async (prompt: string) => ({ answer: prompt }) };
const chatter = { chat: (prompt: string) => prompt.length };
const runnerAgent = { run: async (prompt: string, _options?: { signal?: AbortSignal }) => [prompt] };
expectTypeOf(runner.submitAgent(starter, 'hi')).resolves.toEqualTypeOf<BackgroundTask<{ answer: string }>>();
expectTypeOf(runner.submitAgent(chatter, 'hi')).resolves.toEqualTypeOf<BackgroundTask<number>>();
expectTypeOf(runner.submitAgent(runnerAgent, 'hi')).resolves.toEqualTypeOf<BackgroundTask<string[]>>();

// --- events and the rest of the surface
runner.on('error', ({ error, source }) => {
  expectTypeOf(error).toEqualTypeOf<Error>();
  expectTypeOf(source).toExtend<string>();
});
runner.on('failed', ({ error }) => expectTypeOf(error).toEqualTypeOf<Error>());
expectTypeOf(runner.config).toEqualTypeOf<RunnerConfig>();
expectTypeOf(runner.config.maxConcurrentTasks).toEqualTypeOf<number>();
expectTypeOf(runner.registry).toEqualTypeOf<TaskRegistry>();
runner.registry.select((context) => context.tasks.size).subscribe((size) => expectTypeOf(size).toEqualTypeOf<number>());
expectTypeOf(runner.registry.getSnapshot().context.tasks.get('id')).toEqualTypeOf<TaskSummary | undefined>();
// @ts-expect-error -- task handles come from submit(), never from new
void new BackgroundTask();
