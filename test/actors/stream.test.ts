import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { BackgroundRunner, TaskCancelledError, TaskFailedError, TaskTimeoutError } from '../../src/index.js';
import type { BackgroundTask, TaskContext, TaskSnapshot } from '../../src/index.js';
import { deferred } from '../helpers/tasks.js';

/** Lets queued promise callbacks run (fake timers also fake `setImmediate`). */
async function flushMicrotasks(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await Promise.resolve();
}

/** Sleeps `ms` on the (fake) timers; rejects with the abort reason when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** A stream of `words`, one every 100 ms, that records what happened to it. */
function wordStream(words: string[], log: string[] = []) {
  return async function* words_(context: TaskContext) {
    try {
      for (const word of words) {
        await sleep(100, context.signal);
        log.push(`yield ${word}`);
        yield word;
      }
    } finally {
      log.push('finally');
    }
  };
}

describe('work that streams (returns an AsyncIterable)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('when it runs to the end', () => {
    it('reports each item as it arrives, to onChunk and the progress event, and counts them', async () => {
      const runner = new BackgroundRunner();
      const chunks: string[] = [];
      const events: { chunk?: unknown; progress: number }[] = [];
      runner.on('progress', (event) =>
        events.push('chunk' in event ? { chunk: event.chunk, progress: event.progress } : { progress: event.progress }),
      );
      const task = await runner.submit(wordStream(['a', 'b', 'c']), { onChunk: (chunk) => chunks.push(chunk) });
      await vi.advanceTimersByTimeAsync(100);
      expect(chunks).toEqual(['a']);
      expect(task.chunks).toBe(1);
      expect(task.status).toBe('running');
      await vi.advanceTimersByTimeAsync(200);
      expect(chunks).toEqual(['a', 'b', 'c']);
      expect(events).toEqual([
        { chunk: 'a', progress: 0 },
        { chunk: 'b', progress: 0 },
        { chunk: 'c', progress: 0 },
      ]);
      await expect(task.wait()).resolves.toEqual(['a', 'b', 'c']);
      expect(task.chunks).toBe(3);
      expect(task.toJSON()).toMatchObject({ status: 'completed', chunks: 3, progress: 1 });
    });

    it('leaves the fraction where the work put it, and shows the count in the registry', async () => {
      const runner = new BackgroundRunner();
      const seen: number[] = [];
      runner.registry.subscribe(({ context }) => {
        const summary = [...context.tasks.values()][0];
        if (summary?.status === 'running') seen.push(summary.chunks);
      });
      const onProgress = vi.fn();
      const events: object[] = [];
      runner.on('progress', ({ task: _task, ...event }) => events.push(event));
      const task = await runner.submit(
        async function* (context: TaskContext) {
          context.reportProgress(0.25, 'warming up');
          yield 1;
          yield 2;
        },
        { onProgress },
      );
      await task.wait();
      expect(onProgress).toHaveBeenCalledTimes(1);
      expect(onProgress).toHaveBeenCalledWith(0.25, 'warming up', task);
      expect(seen).toEqual([0, 0, 1, 2]);
      expect(events).toEqual([
        { progress: 0.25, message: 'warming up' },
        { progress: 0.25, message: 'warming up', chunk: 1 },
        { progress: 0.25, message: 'warming up', chunk: 2 },
      ]);
      expect(task.message).toBe('warming up');
    });

    it('completes with what the generator returns, when it returns something', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(async function* () {
        yield 'x';
        return { total: 1 };
      });
      await expect(task.wait()).resolves.toEqual({ total: 1 });
      expectTypeOf(task).toEqualTypeOf<BackgroundTask<{ total: number }>>();
    });

    it('completes with collect(items) when given, sync or async', async () => {
      const runner = new BackgroundRunner();
      const joined = await runner.submit(wordStream(['to', 'ken']), { collect: (items) => items.join('') });
      const counted = await runner.submit(wordStream(['a', 'b']), { collect: async (items) => items.length });
      await vi.advanceTimersByTimeAsync(200);
      await expect(joined.wait()).resolves.toBe('token');
      await expect(counted.wait()).resolves.toBe(2);
      expectTypeOf(joined).toEqualTypeOf<BackgroundTask<string>>();
      expectTypeOf(counted).toEqualTypeOf<BackgroundTask<number>>();
    });

    it('streams an AsyncIterable that async work resolves to, such as a ReadableStream', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(
        async () =>
          new ReadableStream<string>({
            start(controller) {
              controller.enqueue('one');
              controller.enqueue('two');
              controller.close();
            },
          }),
      );
      await expect(task.wait()).resolves.toEqual(['one', 'two']);
      expect(task.chunks).toBe(2);
    });

    it('collects every item in order, whatever the items are', async () => {
      vi.useRealTimers();
      await fc.assert(
        fc.asyncProperty(fc.array(fc.anything()), async (items) => {
          const runner = new BackgroundRunner();
          const seen: unknown[] = [];
          const task = await runner.submit(
            async function* () {
              yield* items;
            },
            { onChunk: (chunk) => seen.push(chunk) },
          );
          await expect(task.wait()).resolves.toEqual(items);
          expect(seen).toEqual(items);
          expect(task.chunks).toBe(items.length);
        }),
        { numRuns: 50 },
      );
    });
  });

  describe('when it throws mid-stream', () => {
    it('fails the task with the error after reporting the items before it', async () => {
      const runner = new BackgroundRunner();
      const chunks: unknown[] = [];
      const task = await runner.submit(
        async function* () {
          yield 1;
          throw new Error('stream broke');
        },
        { onChunk: (chunk) => chunks.push(chunk) },
      );
      await expect(task.wait()).rejects.toThrow('stream broke');
      expect(task.status).toBe('failed');
      expect(chunks).toEqual([1]);
    });

    it('fails the task when collect throws', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(wordStream(['a']), {
        collect: () => {
          throw 'cannot collect';
        },
      });
      await vi.advanceTimersByTimeAsync(100);
      await expect(task.wait()).rejects.toBeInstanceOf(TaskFailedError);
      expect(task.error?.cause).toBe('cannot collect');
    });

    it('runs the stream again from the start on a retry, counting only the new attempt', async () => {
      const runner = new BackgroundRunner();
      let attempt = 0;
      const task = await runner.submit(
        async function* () {
          attempt += 1;
          yield `first of attempt ${attempt}`;
          if (attempt === 1) throw new Error('flaky');
          yield 'second';
        },
        { retries: 1 },
      );
      await vi.runAllTimersAsync();
      await expect(task.wait()).resolves.toEqual(['first of attempt 2', 'second']);
      expect(task.chunks).toBe(2);
    });
  });

  describe('when it is cancelled mid-stream', () => {
    it('stops pulling items, aborts the signal and runs the generator’s finally', async () => {
      const runner = new BackgroundRunner();
      const log: string[] = [];
      let signal!: AbortSignal;
      const task = await runner.submit((context: TaskContext) => {
        signal = context.signal;
        return wordStream(['a', 'b', 'c'], log)(context);
      });
      await vi.advanceTimersByTimeAsync(150);
      await task.cancel('enough');
      await flushMicrotasks();
      expect(task.status).toBe('cancelled');
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(TaskCancelledError);
      expect(log).toEqual(['yield a', 'finally']);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(log).toEqual(['yield a', 'finally']);
      expect(task.chunks).toBe(1);
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('ends a generator that ignores its signal at its next yield, dropping that item', async () => {
      const runner = new BackgroundRunner();
      const log: string[] = [];
      const gate = deferred<void>();
      const chunks: unknown[] = [];
      const task = await runner.submit(
        async function* () {
          try {
            yield 'first';
            await gate.promise; // does not listen to the signal
            log.push('after gate');
            yield 'second';
            log.push('after second');
          } finally {
            log.push('finally');
          }
        },
        { onChunk: (chunk) => chunks.push(chunk) },
      );
      await flushMicrotasks();
      await task.cancel();
      expect(log).toEqual([]);
      gate.resolve();
      await flushMicrotasks();
      expect(log).toEqual(['after gate', 'finally']);
      expect(chunks).toEqual(['first']);
      expect(task.status).toBe('cancelled');
    });

    it('cancels a ReadableStream once its pending read settles', async () => {
      const runner = new BackgroundRunner();
      const cancelled = vi.fn();
      let n = 0;
      const task = await runner.submit(
        () =>
          new ReadableStream<number>({
            // A source that does not know the task's signal: one item every 100 ms.
            pull: (controller) => new Promise<void>((resolve) => setTimeout(resolve, 100)).then(() => controller.enqueue((n += 1))),
            cancel: cancelled,
          }),
      );
      await vi.advanceTimersByTimeAsync(150);
      await task.cancel();
      expect(cancelled).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(50);
      expect(cancelled).toHaveBeenCalledTimes(1);
      expect(cancelled.mock.calls[0]?.[0]).toBeUndefined();
      await vi.advanceTimersByTimeAsync(500);
      expect(task.chunks).toBe(1);
      expect(task.status).toBe('cancelled');
    });
  });

  describe('when it times out mid-stream', () => {
    it('fails with TaskTimeoutError and runs the generator’s finally', async () => {
      const runner = new BackgroundRunner();
      const log: string[] = [];
      const task = await runner.submit(wordStream(['a', 'b', 'c'], log), { timeout: 250 });
      await vi.advanceTimersByTimeAsync(249);
      expect(task.chunks).toBe(2);
      await vi.advanceTimersByTimeAsync(1);
      await flushMicrotasks();
      expect(task.error).toBeInstanceOf(TaskTimeoutError);
      expect(log).toEqual(['yield a', 'yield b', 'finally']);
    });
  });

  describe('when the task has an actor', () => {
    it('shows each item in the snapshots and still emits chunks', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(wordStream(['a', 'b']));
      const snapshots: TaskSnapshot[] = [];
      task.subscribe((snapshot) => snapshots.push(snapshot));
      const chunks: unknown[] = [];
      runner.on('progress', ({ chunk }) => chunks.push(chunk));
      await vi.advanceTimersByTimeAsync(200);
      expect(chunks).toEqual(['a', 'b']);
      expect(snapshots.map((s) => [s.value, s.context.chunks, s.context.chunk])).toEqual([
        ['running', 1, 'a'],
        ['running', 2, 'b'],
        ['completed', 2, 'b'],
      ]);
    });
  });

  it('streams an agent whose method returns an async generator, through submitAgent', async () => {
    const runner = new BackgroundRunner();
    const agent = {
      name: 'echo',
      async *run(prompt: string) {
        for (const word of prompt.split(' ')) yield word;
        return prompt.toUpperCase();
      },
    };
    const chunks: unknown[] = [];
    const task = await runner.submitAgent(agent, 'hello agent', { onChunk: (chunk) => chunks.push(chunk) });
    await expect(task.wait()).resolves.toBe('HELLO AGENT');
    expect(chunks).toEqual(['hello', 'agent']);
    expect(task.name).toBe('echo.run');
  });

  it('reports a throwing onChunk on the error event and keeps streaming', async () => {
    const runner = new BackgroundRunner();
    const errors: string[] = [];
    runner.on('error', ({ source }) => errors.push(source));
    const task = await runner.submit(wordStream(['a', 'b']), {
      onChunk: () => {
        throw new Error('render failed');
      },
    });
    await vi.advanceTimersByTimeAsync(200);
    await expect(task.wait()).resolves.toEqual(['a', 'b']);
    expect(errors).toEqual(['onChunk', 'onChunk']);
  });

  it('rejects a collect or onChunk that is not a function', async () => {
    const runner = new BackgroundRunner();
    await expect(runner.submit(wordStream([]), { collect: 'join' as never })).rejects.toThrow(
      'Expected `collect` to be a function, got `"join"` (string)',
    );
    await expect(runner.submit(wordStream([]), { onChunk: 1 as never })).rejects.toThrow(TypeError);
  });
});
