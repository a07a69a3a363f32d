/**
 * tasklane/ai: Vercel AI SDK (`ai` 5 or 6) calls as background tasks.
 *
 * `aiText()` and `aiStream()` turn a `generateText` / `streamText` call into task work that passes
 * the task's `AbortSignal` as `abortSignal`, so cancel and timeout abort the model's HTTP request.
 * `aiAgent()` does the same for an AI SDK `Agent` (e.g. `ToolLoopAgent`) with `submitAgent`.
 *
 * @packageDocumentation
 */
import type { FinishReason, LanguageModelUsage } from 'ai';
import { eitherSignal, markReturnsResult } from '../actors/stream-work.js';
import type { AgentLike } from '../actors/run-agent.js';
import type { TaskContext } from '../types.js';
import { importPeer } from '../peer.js';

const { generateText, streamText } = await importPeer('ai', 'tasklane/ai', () => import('ai'));

/** The options of `generateText`, as the installed `ai` declares them. */
export type AiTextOptions = Parameters<typeof generateText>[0];
/** The options of `streamText`, as the installed `ai` declares them. */
export type AiStreamOptions = Parameters<typeof streamText>[0];

/**
 * What an AI task completes with: plain data, so it survives `JSON.stringify` and task stores.
 */
export interface AiTextResult {
  /** The generated text (of the last step when tools ran). */
  readonly text: string;
  /** Tokens used, summed over all steps (`totalUsage`). */
  readonly usage: LanguageModelUsage;
  /** Why the model stopped: `'stop'`, `'length'`, `'tool-calls'`, ... */
  readonly finishReason: FinishReason;
}

/** One streamed piece of text: what `onChunk` and the `progress` event's `chunk` carry. */
export interface AiTextChunk {
  /** The text that just arrived. */
  readonly delta: string;
  /** All text so far in this attempt, `delta` included. */
  readonly text: string;
}

/** The task's signal combined with one the caller passed, so either aborts the request. */
const combine = eitherSignal;

/**
 * Task work that calls `generateText(options)` with the task's signal as `abortSignal`.
 *
 * @param options - everything `generateText` takes (`model`, `prompt` or `messages`, `tools`, ...).
 *   An `abortSignal` of yours is combined with the task's.
 * @returns work for `runner.submit()`; the task completes with {@link AiTextResult} and fails
 *   with what `generateText` throws. Cancel or timeout aborts the request, and the task ends
 *   `cancelled` or `failed` with `TaskTimeoutError` at once.
 *
 * @example
 * ```ts
 * import { openai } from '@ai-sdk/openai';
 * import { aiText } from 'tasklane/ai';
 * const task = await runner.submit(aiText({ model: openai('gpt-4o-mini'), prompt: 'One line on XState' }), { timeout: 30_000 });
 * const { text, usage } = await task.wait();
 * ```
 */
export function aiText(options: AiTextOptions): (context: TaskContext) => Promise<AiTextResult> {
  return async function aiText(context: TaskContext): Promise<AiTextResult> {
    const result = await generateText({ ...options, abortSignal: combine(context.signal, options.abortSignal) });
    return { text: result.text, usage: result.totalUsage, finishReason: result.finishReason };
  };
}

/**
 * Task work that calls `streamText(options)` with the task's signal as `abortSignal` and streams
 * the text: each piece reaches `onChunk` and the runner's `progress` event as an
 * {@link AiTextChunk} (`delta` plus the text so far), and `task.chunks` counts them.
 *
 * @param options - everything `streamText` takes. An `abortSignal` of yours is combined with the task's.
 * @returns work for `runner.submit()`; the task completes with {@link AiTextResult} once the
 *   stream finishes, and fails with the stream's error (an `error` part). Cancel or timeout
 *   aborts the streaming request mid-stream; the text streamed so far stays in `task.chunk`.
 *
 * @example
 * ```ts
 * const task = await runner.submit(aiStream({ model, prompt: 'Write a haiku' }), {
 *   onChunk: ({ delta }) => process.stdout.write(delta),
 * });
 * const { text, finishReason } = await task.wait();
 * ```
 */
export function aiStream(options: AiStreamOptions): (context: TaskContext) => AsyncGenerator<AiTextChunk, AiTextResult> {
  return function aiStream(context: TaskContext) {
    const signal = combine(context.signal, options.abortSignal);
    // The error fails the task (and reaches `failed` listeners); the SDK's default onError would
    // also print it to the console.
    const onError = options.onError ?? (() => undefined);
    return markReturnsResult(streamParts(() => streamText({ ...options, abortSignal: signal, onError }), signal));
  };
}

/** What `aiAgent()` needs of an AI SDK agent (`ToolLoopAgent`, or your own `Agent`). */
export interface AiSdkAgent {
  readonly id?: string | undefined;
  stream(options: { prompt: string; abortSignal?: AbortSignal }): PromiseLike<StreamResultLike>;
}

/** The part of a `streamText` result that tasklane reads. */
interface StreamResultLike {
  readonly fullStream: AsyncIterable<{ type: string; text?: string; error?: unknown }>;
  readonly text: PromiseLike<string>;
  readonly totalUsage: PromiseLike<LanguageModelUsage>;
  readonly finishReason: PromiseLike<FinishReason>;
}

/**
 * Wraps an AI SDK `Agent` (e.g. `new ToolLoopAgent({ model, tools })`) for
 * `runner.submitAgent(agent, prompt)`: the task runs `agent.stream({ prompt, abortSignal })`,
 * streams its text like {@link aiStream}, and completes with {@link AiTextResult}.
 *
 * @returns an object with `name` and `run(prompt, { signal })`.
 *
 * @example
 * ```ts
 * const researcher = new ToolLoopAgent({ model, tools: { search } });
 * const task = await runner.submitAgent(aiAgent(researcher), 'What changed in XState 5?', { timeout: 120_000 });
 * ```
 */
export function aiAgent(agent: AiSdkAgent): AgentLike & { readonly name: string } {
  if (agent === null || typeof agent !== 'object' || typeof agent.stream !== 'function') {
    throw new TypeError(`Expected \`agent\` to be an AI SDK Agent with a stream method, got ${typeof agent}`);
  }
  return {
    name: agent.id ?? 'ai-agent',
    run(prompt: string, options?: { signal?: AbortSignal }) {
      const signal = options?.signal ?? new AbortController().signal;
      return markReturnsResult(streamParts(() => agent.stream({ prompt, abortSignal: signal }), signal));
    },
  };
}

/**
 * Reads a `streamText` result's `fullStream`: text deltas become chunks, an `error` part fails
 * the task, and the return value is the final text, usage and finish reason.
 */
async function* streamParts(
  start: () => StreamResultLike | PromiseLike<StreamResultLike>,
  signal: AbortSignal,
): AsyncGenerator<AiTextChunk, AiTextResult> {
  const result = await start();
  let text = '';
  for await (const part of result.fullStream) {
    if (part.type === 'text-delta' && part.text) {
      text += part.text;
      yield { delta: part.text, text };
    } else if (part.type === 'error') {
      throw part.error;
    }
  }
  // An aborted stream ends quietly with an `abort` part; its usage promises may never settle.
  signal.throwIfAborted();
  const [finalText, usage, finishReason] = await Promise.all([result.text, result.totalUsage, result.finishReason]);
  return { text: finalText, usage, finishReason };
}
