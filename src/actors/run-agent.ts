import { describe } from '../errors.js';
import type { TaskContext } from '../types.js';

/**
 * An AI agent as tasklane sees it: anything with a `start`, `chat` or `run` method taking the
 * prompt (most agent SDKs' wrappers, your own class; the `tasklane/ai`, `tasklane/langchain` and
 * `tasklane/praisonai` adapters make one). The method may return a value, a promise, or an
 * `AsyncIterable` to stream.
 */
export interface AgentLike {
  start?(prompt: string, options?: { signal?: AbortSignal }): unknown;
  chat?(prompt: string, options?: { signal?: AbortSignal }): unknown;
  run?(prompt: string, options?: { signal?: AbortSignal }): unknown;
}

const METHODS = ['start', 'chat', 'run'] as const;

/**
 * @internal
 * Turns an agent into task work: calls `agent.start`, else `chat`, else `run`, as a method (so
 * `this` is the agent) with `(prompt, { signal })`. Throws a `TypeError` at submit time when the
 * agent has none of them.
 */
export function agentWork(agent: unknown): { method: string; work: (prompt: string, context: TaskContext) => unknown } {
  if (agent === null || (typeof agent !== 'object' && typeof agent !== 'function')) {
    throw new TypeError(`Expected \`agent\` to be an object with a start, chat or run method, got ${describe(agent)}`);
  }
  const method = METHODS.find((name) => typeof (agent as Record<string, unknown>)[name] === 'function');
  if (method === undefined) {
    throw new TypeError(
      `Expected \`agent\` to have a start, chat or run method, got an object with ${
        Object.keys(agent).slice(0, 8).join(', ') || 'no own keys'
      }; wrap your agent as { run: (prompt, { signal }) => … }`,
    );
  }
  const call = (agent as Record<string, (prompt: string, options: { signal: AbortSignal }) => unknown>)[method]!;
  return {
    method,
    work: (prompt, context) => call.call(agent, prompt, { signal: context.signal }),
  };
}
