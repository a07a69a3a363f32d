/**
 * tasklane/praisonai: PraisonAI (`praisonai` 1.x) agents as background tasks, with their streamed
 * tokens as progress and cancel/timeout aborting the agent's OpenAI request.
 *
 * PraisonAI's `Agent.start(prompt)` takes no `AbortSignal`. This adapter reaches the OpenAI
 * client the agent uses (its `OpenAIService`) and passes the task's signal to each
 * `chat.completions.create` call the agent makes during the task, so a cancel closes the HTTP
 * request. If an agent does not have that shape (another version), the task still ends at once on
 * cancel or timeout but the agent's request runs on and its result is ignored;
 * `praisonAgent(agent).abortsRequests` says which case you are in.
 *
 * This module does not import `praisonai` (which throws at import time without `OPENAI_API_KEY`).
 *
 * @packageDocumentation
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { markReturnsResult, pushStream } from '../actors/stream-work.js';
import type { AgentLike } from '../actors/run-agent.js';

/** What `praisonAgent()` needs: PraisonAI's `Agent` (anything with `start(prompt)`). */
export interface PraisonAgentLike {
  start(prompt: string): PromiseLike<unknown>;
  readonly name?: string | undefined;
}

/** A PraisonAI agent ready for `runner.submitAgent(agent, prompt)`. */
export interface PraisonTaskAgent extends AgentLike {
  readonly name: string;
  /**
   * Whether cancel and timeout abort the agent's HTTP request (true for praisonai 1.0.x agents);
   * when false, the task ends on time anyway but the request runs to its end in the background.
   */
  readonly abortsRequests: boolean;
  run(prompt: string, options?: { signal?: AbortSignal }): AsyncGenerator<string, string>;
}

/** The part of praisonai's `OpenAIService` the adapter hooks into. */
interface LlmService {
  getClient(): Promise<OpenAIClientLike>;
  streamText(
    prompt: string,
    systemPrompt: string,
    temperature: number,
    onToken: (token: string) => void,
    ...rest: unknown[]
  ): Promise<unknown>;
}

interface OpenAIClientLike {
  chat: { completions: { create(body: unknown, options?: { signal?: AbortSignal }): unknown } };
}

/** The task a PraisonAI call runs for: its signal, and where its streamed tokens go. */
interface Call {
  readonly signal: AbortSignal;
  readonly push: (token: string) => void;
}

// Each call of the agent runs inside `calls.run(call, …)`, so the hooked service finds the right
// task's signal even when one agent serves several tasks at once.
const calls = new AsyncLocalStorage<Call>();
const hooked = new WeakSet<object>();

function isLlmService(value: unknown): value is LlmService {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as LlmService).getClient === 'function' &&
    typeof (value as LlmService).streamText === 'function'
  );
}

/** Finds the agent's `OpenAIService`: praisonai's `Agent` wraps a simple agent or a task agent. */
function findLlmService(agent: object): LlmService | undefined {
  const a = agent as Record<string, Record<string, unknown> | undefined>;
  const candidates = [a['simpleAgent']?.['llmService'], a['taskAgent']?.['llm'], a['llmService'], a['llm']];
  return candidates.find(isLlmService);
}

/** Hooks a service once: its client gets the current call's signal, its token stream the call's `push`. */
function hook(service: LlmService): void {
  if (hooked.has(service)) return;
  hooked.add(service);
  const getClient = service.getClient.bind(service);
  service.getClient = async () => {
    const client = await getClient();
    // A view of the agent's client that differs only in `chat.completions.create`.
    const completions = Object.create(client.chat.completions) as OpenAIClientLike['chat']['completions'];
    completions.create = (body, options) => {
      const signal = calls.getStore()?.signal;
      return client.chat.completions.create(body, signal ? { ...options, signal } : options);
    };
    const chat = Object.create(client.chat) as OpenAIClientLike['chat'];
    chat.completions = completions;
    const view = Object.create(client) as OpenAIClientLike;
    view.chat = chat;
    return view;
  };
  const streamText = service.streamText.bind(service);
  service.streamText = (prompt, systemPrompt, temperature, onToken, ...rest) => {
    const call = calls.getStore();
    const forward = call
      ? (token: string) => {
          call.push(token);
          onToken(token);
        }
      : onToken;
    return streamText(prompt, systemPrompt, temperature, forward, ...rest);
  };
}

/**
 * Wraps a PraisonAI `Agent` for `runner.submitAgent(agent, prompt)`: the task runs
 * `agent.start(prompt)`, each token the agent streams reaches `onChunk` and the `progress` event
 * (a string), and the task completes with the agent's answer (a string).
 *
 * Cancel or timeout ends the task at once, aborts the OpenAI request the agent has open (see
 * {@link PraisonTaskAgent.abortsRequests}) and ignores whatever the agent does after that.
 * PraisonAI reads `OPENAI_API_KEY` (required at import) and the `openai` client's
 * `OPENAI_BASE_URL` from the environment.
 *
 * @param agent - a PraisonAI `Agent` (`new Agent({ instructions })`).
 * @returns an object with `name`, `abortsRequests` and `run(prompt, { signal })`.
 *
 * @example
 * ```ts
 * import { Agent } from 'praisonai';
 * import { praisonAgent } from 'tasklane/praisonai';
 * const writer = praisonAgent(new Agent({ instructions: 'You write short poems', verbose: false }));
 * const task = await runner.submitAgent(writer, 'A poem about queues', { timeout: 60_000 });
 * console.log(await task.wait());
 * ```
 */
export function praisonAgent(agent: PraisonAgentLike): PraisonTaskAgent {
  if (agent === null || typeof agent !== 'object' || typeof agent.start !== 'function') {
    throw new TypeError(`Expected \`agent\` to be a PraisonAI Agent with a start method, got ${agent === null ? 'null' : typeof agent}`);
  }
  const service = findLlmService(agent);
  if (service) hook(service);
  const agentName = (agent as { name?: unknown }).name ?? (agent as { simpleAgent?: { name?: unknown } }).simpleAgent?.name;
  return {
    name: typeof agentName === 'string' && agentName ? agentName : 'praisonai',
    abortsRequests: service !== undefined,
    run(prompt: string, options?: { signal?: AbortSignal }) {
      const signal = options?.signal ?? new AbortController().signal;
      const stream = pushStream<string, string>(signal, (push) =>
        calls.run({ signal, push }, async () => String((await agent.start(prompt)) ?? '')),
      );
      return markReturnsResult(stream);
    },
  };
}
