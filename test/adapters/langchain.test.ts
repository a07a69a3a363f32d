import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import type { BaseMessage } from '@langchain/core/messages';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatGenerationChunk } from '@langchain/core/outputs';
import type { ChatResult } from '@langchain/core/outputs';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundRunner, TaskCancelledError, TaskTimeoutError } from '../../src/index.js';
import { invokeRunnable, runnableAgent, streamRunnable } from '../../src/adapters/langchain.js';
import { startFakeModelServer } from '../helpers/openai-server.js';
import type { FakeModelServer } from '../helpers/openai-server.js';

/**
 * A LangChain chat model that streams from an OpenAI-compatible endpoint with the `signal`
 * LangChain gives it: what a provider package such as @langchain/openai does, without one.
 */
class HttpChatModel extends BaseChatModel {
  constructor(readonly baseURL: string) {
    super({});
  }

  override _llmType(): string {
    return 'fake-http';
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    let text = '';
    for await (const chunk of this._streamResponseChunks(messages, options)) text += chunk.text;
    return { generations: [{ text, message: new AIMessage(text) }] };
  }

  override async *_streamResponseChunks(_messages: BaseMessage[], options: this['ParsedCallOptions']): AsyncGenerator<ChatGenerationChunk> {
    const response = await fetch(`${this.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake', stream: true, messages: [] }),
      signal: options.signal ?? null,
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of response.body!) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end).replace(/^data: /, '');
        buffer = buffer.slice(end + 2);
        if (event === '[DONE]') return;
        const content = (JSON.parse(event) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content;
        if (content) yield new ChatGenerationChunk({ text: content, message: new AIMessageChunk(content) });
      }
    }
  }
}

describe('tasklane/langchain', () => {
  let server: FakeModelServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  describe('invokeRunnable', () => {
    it('completes with what invoke returns: a chat model’s message', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(invokeRunnable(new FakeListChatModel({ responses: ['Paris'] }), 'Capital of France?'));
      const message = await task.wait();
      expect(message).toBeInstanceOf(AIMessage);
      expect(message.text).toBe('Paris');
    });

    it('runs a chain, and a cancel rejects the call with the task cancelled', async () => {
      const chain = ChatPromptTemplate.fromTemplate('Tell me about {topic}')
        .pipe(new FakeListChatModel({ responses: ['slow answer'], sleep: 60_000 }))
        .pipe(new StringOutputParser());
      const runner = new BackgroundRunner();
      const task = await runner.submit(invokeRunnable(chain, { topic: 'actors' }));
      await task.cancel();
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
    });

    it('throws a TypeError at once for something without invoke', () => {
      expect(() => invokeRunnable({} as never, 'x')).toThrow('Expected `runnable` to have an invoke method, got object');
    });
  });

  describe('streamRunnable', () => {
    it('streams a chat model’s chunks and completes with the concatenated message', async () => {
      const runner = new BackgroundRunner();
      const texts: string[] = [];
      const task = await runner.submit(streamRunnable(new FakeListChatModel({ responses: ['Hi!'] }), 'hello'), {
        onChunk: (chunk) => texts.push(chunk.text),
      });
      const message = await task.wait();
      expect(texts).toEqual(['H', 'i', '!']);
      expect(message).toBeInstanceOf(AIMessageChunk);
      expect(message.text).toBe('Hi!');
      expect(task.chunks).toBe(3);
    });

    it('completes with the whole string for a chain ending in a string parser', async () => {
      const chain = ChatPromptTemplate.fromTemplate('{q}')
        .pipe(new FakeListChatModel({ responses: ['abc'] }))
        .pipe(new StringOutputParser());
      const runner = new BackgroundRunner();
      const task = await runner.submit(streamRunnable(chain, { q: 'letters' }));
      await expect(task.wait()).resolves.toBe('abc');
    });

    describe('against a model behind HTTP', () => {
      it('aborts the streaming request when the task is cancelled mid-stream', async () => {
        server = await startFakeModelServer({ tokens: Array.from({ length: 200 }, (_, i) => `w${i} `), intervalMs: 20 });
        const runner = new BackgroundRunner();
        let onSecond!: () => void;
        const second = new Promise<void>((resolve) => (onSecond = resolve));
        const task = await runner.submit(streamRunnable(new HttpChatModel(server.baseURL), 'long answer'), {
          onChunk: () => {
            if (task.chunks === 2) onSecond();
          },
        });
        await second;
        await task.cancel();
        const request = await server.request(0);
        await expect(request.closed).resolves.toEqual({ early: true });
        expect(request.tokensSent).toBeLessThan(200);
        await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      });

      it('aborts the streaming request when the task times out', async () => {
        server = await startFakeModelServer({ tokens: Array.from({ length: 500 }, () => 'x'), intervalMs: 20 });
        const runner = new BackgroundRunner();
        const task = await runner.submit(streamRunnable(new HttpChatModel(server.baseURL), 'long'), { timeout: 400 });
        const request = await server.request(0);
        await expect(request.closed).resolves.toEqual({ early: true });
        await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
      });

      it('completes with the whole answer when nobody interrupts it', async () => {
        server = await startFakeModelServer({ tokens: ['x', 'y', 'z'], intervalMs: 1 });
        const runner = new BackgroundRunner();
        const task = await runner.submit(streamRunnable(new HttpChatModel(server.baseURL), 'short'));
        expect((await task.wait()).text).toBe('xyz');
      });
    });
  });

  describe('runnableAgent', () => {
    it('runs a chat model with submitAgent, streaming it', async () => {
      const runner = new BackgroundRunner();
      const model = new FakeListChatModel({ responses: ['ok'] });
      const chunks: unknown[] = [];
      const task = await runner.submitAgent(runnableAgent(model), 'status?', { onChunk: (chunk) => chunks.push(chunk) });
      const message = (await task.wait()) as AIMessageChunk;
      expect(message.text).toBe('ok');
      expect(chunks).toHaveLength(2);
      expect(task.name).toBe('FakeListChatModel.run');
    });
  });
});
