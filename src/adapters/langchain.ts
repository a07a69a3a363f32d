/**
 * tasklane/langchain: LangChain.js runnables (chat models, chains, LangGraph graphs) as
 * background tasks. The task's `AbortSignal` goes in the runnable config as `signal`, so cancel
 * and timeout abort the model call (LangChain passes it down to the provider's HTTP request).
 *
 * @packageDocumentation
 */
import type { RunnableConfig } from '@langchain/core/runnables';
import { eitherSignal, markReturnsResult } from '../actors/stream-work.js';
import type { AgentLike } from '../actors/run-agent.js';
import type { TaskContext } from '../types.js';
import { importPeer } from '../peer.js';

const { concat } = await importPeer('@langchain/core', 'tasklane/langchain', () => import('@langchain/core/utils/stream'));

/** What `invokeRunnable()` needs: a LangChain `Runnable` (or anything with its `invoke`). */
export interface InvokableRunnable<TInput, TOutput> {
  invoke(input: TInput, options?: Partial<RunnableConfig>): Promise<TOutput>;
}

/** What `streamRunnable()` needs: a LangChain `Runnable` (or anything with its `stream`). */
export interface StreamableRunnable<TInput, TChunk> {
  stream(input: TInput, options?: Partial<RunnableConfig>): Promise<AsyncIterable<TChunk>>;
  getName?(): string;
}

/** The task's signal combined with one in the caller's config, so either aborts the call. */
function withSignal(config: Partial<RunnableConfig> | undefined, signal: AbortSignal): Partial<RunnableConfig> {
  return { ...config, signal: eitherSignal(signal, config?.signal) };
}

/**
 * Task work that calls `runnable.invoke(input, { ...config, signal })`.
 *
 * @param runnable - a chat model, chain, retriever, LangGraph graph: any `Runnable`.
 * @param input - what `invoke` takes (a string or messages for a chat model, an object for a prompt chain).
 * @param config - a `RunnableConfig` (callbacks, tags, ...); its `signal`, if any, is combined with the task's.
 * @returns work for `runner.submit()`: the task completes with what `invoke` resolves to and fails
 *   with what it throws. Cancel or timeout aborts the signal; LangChain then rejects (`AbortError`)
 *   and stops the provider's request.
 *
 * @example
 * ```ts
 * import { ChatOpenAI } from '@langchain/openai';
 * const task = await runner.submit(invokeRunnable(new ChatOpenAI({ model: 'gpt-4o-mini' }), 'One line on XState'));
 * console.log((await task.wait()).text);
 * ```
 */
export function invokeRunnable<TInput, TOutput>(
  runnable: InvokableRunnable<TInput, TOutput>,
  input: TInput,
  config?: Partial<RunnableConfig>,
): (context: TaskContext) => Promise<TOutput> {
  if (typeof runnable?.invoke !== 'function') throw new TypeError(`Expected \`runnable\` to have an invoke method, got ${typeof runnable}`);
  return function invokeRunnable(context: TaskContext) {
    return runnable.invoke(input, withSignal(config, context.signal));
  };
}

/**
 * Task work that calls `runnable.stream(input, { ...config, signal })`: each chunk reaches
 * `onChunk` and the runner's `progress` event as it arrives, and the task completes with the
 * chunks joined by LangChain's `concat` (for a chat model, one `AIMessageChunk` whose `text` is
 * the whole answer; for a chain ending in a string parser, the whole string; `undefined` if
 * nothing was streamed).
 *
 * @returns work for `runner.submit()`. Cancel or timeout aborts the signal mid-stream, which stops
 *   the provider's streaming request, and ends the iteration.
 *
 * @example
 * ```ts
 * const task = await runner.submit(streamRunnable(model, 'Write a haiku'), {
 *   onChunk: (chunk) => process.stdout.write(chunk.text),
 * });
 * const message = await task.wait(); // AIMessageChunk
 * ```
 */
export function streamRunnable<TInput, TChunk>(
  runnable: StreamableRunnable<TInput, TChunk>,
  input: TInput,
  config?: Partial<RunnableConfig>,
): (context: TaskContext) => AsyncGenerator<TChunk, TChunk> {
  if (typeof runnable?.stream !== 'function') throw new TypeError(`Expected \`runnable\` to have a stream method, got ${typeof runnable}`);
  return function streamRunnable(context: TaskContext) {
    return markReturnsResult(collectChunks(runnable, input, withSignal(config, context.signal)));
  };
}

async function* collectChunks<TInput, TChunk>(
  runnable: StreamableRunnable<TInput, TChunk>,
  input: TInput,
  config: Partial<RunnableConfig>,
): AsyncGenerator<TChunk, TChunk> {
  let output: TChunk | undefined;
  let first = true;
  for await (const chunk of await runnable.stream(input, config)) {
    output = first ? chunk : concat(output as TChunk, chunk);
    first = false;
    yield chunk;
  }
  config.signal?.throwIfAborted();
  // A runnable that streamed nothing leaves `undefined`; typed as a chunk since that is all but unheard of.
  return output as TChunk;
}

/**
 * Wraps a runnable that takes a prompt string (a chat model, or a chain of one) for
 * `runner.submitAgent(agent, prompt)`: the task streams it like {@link streamRunnable}.
 *
 * @returns an object with `name` (the runnable's name) and `run(prompt, { signal })`.
 *
 * @example
 * ```ts
 * const task = await runner.submitAgent(runnableAgent(model), 'Summarise the news', { timeout: 60_000 });
 * ```
 */
export function runnableAgent<TChunk>(
  runnable: StreamableRunnable<string, TChunk>,
  config?: Partial<RunnableConfig>,
): AgentLike & { readonly name: string } {
  if (typeof runnable?.stream !== 'function') throw new TypeError(`Expected \`runnable\` to have a stream method, got ${typeof runnable}`);
  return {
    name: runnable.getName?.() ?? 'runnable',
    run(prompt: string, options?: { signal?: AbortSignal }) {
      const signal = options?.signal ?? new AbortController().signal;
      return markReturnsResult(collectChunks(runnable, prompt, withSignal(config, signal)));
    },
  };
}
