import { ToolLoopAgent, simulateReadableStream } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import type { LanguageModelV3StreamPart, LanguageModelV3Usage } from '@ai-sdk/provider';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { BackgroundRunner, TaskCancelledError, TaskTimeoutError } from '../../src/index.js';
import type { BackgroundTask } from '../../src/index.js';
import { aiAgent, aiStream, aiText } from '../../src/adapters/ai.js';
import type { AiTextChunk, AiTextResult } from '../../src/adapters/ai.js';
import { startFakeModelServer } from '../helpers/openai-server.js';
import type { FakeModelServer } from '../helpers/openai-server.js';

const usage: LanguageModelV3Usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 2, text: 2, reasoning: undefined },
};

/** An SDK test model that streams `deltas` (no delays) and then finishes. */
function streamingModel(
  deltas: string[],
  end: LanguageModelV3StreamPart = { type: 'finish', finishReason: { unified: 'stop', raw: 'stop' }, usage },
) {
  return new MockLanguageModelV3({
    doStream: async () => ({
      stream: simulateReadableStream<LanguageModelV3StreamPart>({
        chunkDelayInMs: null,
        chunks: [
          { type: 'stream-start', warnings: [] },
          { type: 'text-start', id: 't' },
          ...deltas.map((delta): LanguageModelV3StreamPart => ({ type: 'text-delta', id: 't', delta })),
          { type: 'text-end', id: 't' },
          end,
        ],
      }),
    }),
  });
}

/**
 * A language model whose `doStream` makes a real HTTP request to an OpenAI-compatible server with
 * the `abortSignal` the AI SDK gives it, and turns the SSE chunks into stream parts: what a
 * provider package does, without one.
 */
function httpModel(baseURL: string) {
  return new MockLanguageModelV3({
    doStream: async ({ abortSignal }) => {
      const response = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fake', stream: true, messages: [] }),
        signal: abortSignal ?? null,
      });
      const decoder = new TextDecoder();
      let buffer = '';
      const parts = new TransformStream<Uint8Array, LanguageModelV3StreamPart>({
        start(controller) {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'text-start', id: 't' });
        },
        transform(bytes, controller) {
          buffer += decoder.decode(bytes, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end).replace(/^data: /, '');
            buffer = buffer.slice(end + 2);
            if (event === '[DONE]') continue;
            const choice = (JSON.parse(event) as { choices: { delta: { content?: string }; finish_reason: string | null }[] }).choices[0]!;
            if (choice.delta.content) controller.enqueue({ type: 'text-delta', id: 't', delta: choice.delta.content });
            if (choice.finish_reason) {
              controller.enqueue({ type: 'text-end', id: 't' });
              controller.enqueue({ type: 'finish', finishReason: { unified: 'stop', raw: choice.finish_reason }, usage });
            }
          }
        },
      });
      return { stream: response.body!.pipeThrough(parts) };
    },
  });
}

describe('tasklane/ai', () => {
  let server: FakeModelServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  describe('aiText', () => {
    it('completes with the text, usage and finish reason, passing the task’s signal to the model', async () => {
      const model = new MockLanguageModelV3({
        doGenerate: async () => ({
          content: [{ type: 'text', text: 'Hello from the model' }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage,
          warnings: [],
        }),
      });
      const runner = new BackgroundRunner();
      const task = await runner.submit(aiText({ model, prompt: 'Say hello' }));
      const result = await task.wait();
      expect(result).toMatchObject({ text: 'Hello from the model', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } });
      expectTypeOf(task).toEqualTypeOf<BackgroundTask<AiTextResult>>();
      expect(model.doGenerateCalls[0]?.abortSignal).toBeInstanceOf(AbortSignal);
      expect(JSON.parse(JSON.stringify(result))).toMatchObject({ text: 'Hello from the model' });
    });

    it('aborts the model call when the task is cancelled', async () => {
      let seen: AbortSignal | undefined;
      const model = new MockLanguageModelV3({
        doGenerate: ({ abortSignal }) => {
          seen = abortSignal;
          return new Promise((_resolve, reject) => abortSignal?.addEventListener('abort', () => reject(abortSignal.reason)));
        },
      });
      const runner = new BackgroundRunner();
      const task = await runner.submit(aiText({ model, prompt: 'never answered', maxRetries: 0 }));
      await expect.poll(() => seen).toBeDefined();
      await task.cancel();
      expect(seen?.aborted).toBe(true);
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    });
  });

  describe('aiStream', () => {
    it('streams each delta with the text so far, then completes with the final text and usage', async () => {
      const runner = new BackgroundRunner();
      const chunks: AiTextChunk[] = [];
      const events: unknown[] = [];
      runner.on('progress', ({ chunk }) => events.push(chunk));
      const task = await runner.submit(aiStream({ model: streamingModel(['Hel', 'lo', '!']), prompt: 'greet' }), {
        onChunk: (chunk) => chunks.push(chunk),
      });
      const result = await task.wait();
      expect(chunks).toEqual([
        { delta: 'Hel', text: 'Hel' },
        { delta: 'lo', text: 'Hello' },
        { delta: '!', text: 'Hello!' },
      ]);
      expect(events).toEqual(chunks);
      expect(result).toMatchObject({ text: 'Hello!', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 2 } });
      expect(task.chunks).toBe(3);
      expectTypeOf(task).toEqualTypeOf<BackgroundTask<AiTextResult>>();
    });

    it('fails the task with the stream’s error', async () => {
      const runner = new BackgroundRunner();
      const model = streamingModel(['partial'], { type: 'error', error: new Error('model overloaded') });
      const task = await runner.submit(aiStream({ model, prompt: 'x' }));
      await expect(task.wait()).rejects.toThrow('model overloaded');
      expect(task.status).toBe('failed');
      expect(task.chunks).toBe(1);
    });

    describe('against a model behind HTTP', () => {
      it('aborts the streaming request when the task is cancelled mid-stream', async () => {
        server = await startFakeModelServer({ tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), intervalMs: 20 });
        const runner = new BackgroundRunner();
        let received = 0;
        let cancelAfterTwo!: () => void;
        const twoChunks = new Promise<void>((resolve) => (cancelAfterTwo = resolve));
        const task = await runner.submit(aiStream({ model: httpModel(server.baseURL), prompt: 'long answer', maxRetries: 0 }), {
          onChunk: () => {
            received += 1;
            if (received === 2) cancelAfterTwo();
          },
        });
        await twoChunks;
        await task.cancel('user stopped it');
        const request = await server.request(0);
        await expect(request.closed).resolves.toEqual({ early: true });
        expect(request.tokensSent).toBeLessThan(200);
        expect(task.status).toBe('cancelled');
        await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      });

      it('aborts the streaming request when the task times out', async () => {
        server = await startFakeModelServer({ tokens: Array.from({ length: 500 }, () => 'x'), intervalMs: 20 });
        const runner = new BackgroundRunner();
        const task = await runner.submit(aiStream({ model: httpModel(server.baseURL), prompt: 'long', maxRetries: 0 }), { timeout: 400 });
        const request = await server.request(0);
        await expect(request.closed).resolves.toEqual({ early: true });
        await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
        expect(task.chunks).toBeGreaterThan(0);
      });

      it('completes with the whole text when nobody interrupts it', async () => {
        server = await startFakeModelServer({ tokens: ['a', 'b', 'c'], intervalMs: 1 });
        const runner = new BackgroundRunner();
        const task = await runner.submit(aiStream({ model: httpModel(server.baseURL), prompt: 'short' }));
        await expect(task.wait()).resolves.toMatchObject({ text: 'abc', finishReason: 'stop' });
        await expect(server.requests[0]!.closed).resolves.toEqual({ early: false });
      });
    });
  });

  describe('aiAgent', () => {
    it('runs an AI SDK agent with submitAgent, streaming its text', async () => {
      const agent = new ToolLoopAgent({ id: 'greeter', model: streamingModel(['Hi ', 'there']) });
      const runner = new BackgroundRunner();
      const chunks: unknown[] = [];
      const task = await runner.submitAgent(aiAgent(agent), 'greet me', { onChunk: (chunk) => chunks.push(chunk) });
      await expect(task.wait()).resolves.toMatchObject({ text: 'Hi there', finishReason: 'stop' });
      expect(task.name).toBe('greeter.run');
      expect(chunks).toEqual([
        { delta: 'Hi ', text: 'Hi ' },
        { delta: 'there', text: 'Hi there' },
      ]);
    });

    it('throws a TypeError for something that is not an agent', () => {
      expect(() => aiAgent({} as never)).toThrow(TypeError);
    });
  });
});
