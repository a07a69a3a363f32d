import { describe, expect, it } from 'vitest';
import { agentWork } from '../../src/actors/run-agent.js';

const context = { taskId: 't', attempt: 1, signal: new AbortController().signal, reportProgress: () => undefined };

describe('agentWork', () => {
  it('prefers start, then chat, then run, calling it as a method with (prompt, { signal })', async () => {
    const agent = {
      label: 'me',
      chat(prompt: string) {
        return `chat:${prompt}`;
      },
      run(this: { label: string }, prompt: string, options: { signal: AbortSignal }) {
        return `${this.label}:${prompt}:${options.signal === context.signal}`;
      },
    };
    expect(agentWork(agent).method).toBe('chat');
    const onlyRun = { label: 'me', run: agent.run };
    const { method, work } = agentWork(onlyRun);
    expect(method).toBe('run');
    expect(await work('hi', context)).toBe('me:hi:true');
    expect(agentWork({ start: () => 1, chat: () => 2 }).method).toBe('start');
  });

  it('throws a TypeError naming the missing methods for an object without them', () => {
    expect(() => agentWork({ ask: () => 1 })).toThrow(TypeError);
    expect(() => agentWork({ ask: () => 1 })).toThrow(/start, chat or run method.*ask/);
    expect(() => agentWork(null)).toThrow(/`agent` to be an object/);
  });
});
