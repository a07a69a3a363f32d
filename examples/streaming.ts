// Streams in tasklane, offline: a generator task and an AI SDK call against the SDK's own test
// model (swap in `openai('gpt-4o-mini')` from @ai-sdk/openai for a real one).
// Run: npx tsx examples/streaming.ts
import { simulateReadableStream } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { BackgroundRunner } from '../src/index.js';
import type { TaskContext } from '../src/index.js';
import { aiStream } from '../src/adapters/ai.js';

async function* countdown(from: number, { signal }: TaskContext) {
  try {
    for (let n = from; n > 0; n -= 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      signal.throwIfAborted();
      yield n;
    }
  } finally {
    console.log('countdown cleaned up'); // runs on completion, cancel and timeout alike
  }
}

const runner = new BackgroundRunner();
const task = await runner.submit(countdown, {
  args: [5],
  onChunk: (n, task) => console.log(`${n}… (${task.chunks} so far)`),
  collect: (items) => items.join(' '),
});
console.log(await task.wait());

const words = 'Actors keep their state to themselves and talk in messages.'.split(/(?<= )/);
const model = new MockLanguageModelV3({
  doStream: async () => ({
    stream: simulateReadableStream({
      chunkDelayInMs: 50,
      chunks: [
        { type: 'text-start' as const, id: '1' },
        ...words.map((delta) => ({ type: 'text-delta' as const, id: '1', delta })),
        { type: 'text-end' as const, id: '1' },
        {
          type: 'finish' as const,
          finishReason: { unified: 'stop' as const, raw: 'stop' },
          usage: {
            inputTokens: { total: 8, noCache: 8, cacheRead: undefined, cacheWrite: undefined },
            outputTokens: { total: words.length, text: words.length, reasoning: undefined },
          },
        },
      ],
    }),
  }),
});
const answer = await runner.submit(aiStream({ model, prompt: 'What is an actor?' }), {
  timeout: 10_000,
  onChunk: ({ delta }) => process.stdout.write(delta),
});
const { text, usage, finishReason } = await answer.wait();
console.log(`\n${text.length} characters, ${usage.totalTokens} tokens, finish: ${finishReason}`);
