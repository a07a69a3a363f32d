import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { agentMachine, research } from '../../examples/agent-machine.js';
import type { AgentInput } from '../../examples/agent-machine.js';
import type { TaskContext } from '../../src/index.js';

function run(input: AgentInput) {
  const lines: string[] = [];
  const states: string[] = [];
  const agent = createActor(agentMachine.provide({ actions: { note: (_, { line }) => lines.push(line.trim()) } }), { input });
  agent.subscribe((snapshot) => states.push(JSON.stringify(snapshot.value)));
  agent.start();
  return { agent, lines, states };
}

describe('examples/agent-machine', () => {
  afterEach(() => vi.useRealTimers());

  describe('when every research task succeeds', () => {
    it('plans, fans out three tasks two at a time, waits for all three and summarises', async () => {
      vi.useFakeTimers();
      const { agent, lines, states } = run({ goal: 'AI' });
      await vi.advanceTimersByTimeAsync(10_000);

      expect(agent.getSnapshot().status).toBe('done');
      const output = agent.getSnapshot().output!;
      expect(output.summary).toBe('3 of 3 research tasks succeeded');
      expect(output.findings.map((f) => f.topic)).toEqual(['history of AI', 'state of the art of AI', 'open problems of AI']);
      expect(output.findings.every((f) => f.ok)).toBe(true);
      expect([...new Set(states)]).toEqual(['"planning"', '{"researching":"waiting"}', '"summarising"', '"done"']);
      // Two run at once: the third starts only after one of the first two completed.
      const started = lines.filter((line) => line.startsWith('started')).map((line) => lines.indexOf(line));
      const firstCompleted = lines.findIndex((line) => line.startsWith('completed'));
      expect(started).toHaveLength(3);
      expect(started[1]).toBeLessThan(firstCompleted);
      expect(started[2]).toBeGreaterThan(firstCompleted);
      expect(lines.filter((line) => line.startsWith('progress'))).toHaveLength(9);
    });

    it('finishes within a few seconds of simulated time', async () => {
      vi.useFakeTimers();
      const { agent } = run({ goal: 'AI' });
      await vi.advanceTimersByTimeAsync(2_000);
      expect(agent.getSnapshot().status).toBe('active');
      await vi.advanceTimersByTimeAsync(1_500);
      expect(agent.getSnapshot().status).toBe('done');
    });
  });

  describe('when one research task fails', () => {
    it('still reaches done, with the failure among the three findings', async () => {
      vi.useFakeTimers();
      const flaky = (topic: string, context: TaskContext) =>
        topic.startsWith('state') ? Promise.reject(new Error('search engine down')) : research(topic, context);
      const { agent, lines } = run({ goal: 'AI', research: flaky });
      await vi.advanceTimersByTimeAsync(10_000);

      expect(agent.getSnapshot().status).toBe('done');
      const output = agent.getSnapshot().output!;
      expect(output.summary).toBe('2 of 3 research tasks succeeded');
      expect(output.findings).toHaveLength(3);
      expect(output.findings[1]).toEqual({ topic: 'state of the art of AI', ok: false, error: 'search engine down' });
      expect(lines).toContain('failed    state of the art of AI: search engine down');
    });

    it('counts a task that hangs past its timeout as failed and moves on', async () => {
      vi.useFakeTimers();
      const hangs = (topic: string, context: TaskContext) =>
        topic.startsWith('open') ? new Promise<string>(() => {}) : research(topic, context);
      const { agent } = run({ goal: 'AI', research: hangs });
      await vi.advanceTimersByTimeAsync(4_000);
      expect(agent.getSnapshot().value).toEqual({ researching: 'waiting' });
      await vi.advanceTimersByTimeAsync(5_000);

      expect(agent.getSnapshot().status).toBe('done');
      const failed = agent.getSnapshot().output!.findings[2]!;
      expect(failed).toMatchObject({ topic: 'open problems of AI', ok: false });
      expect(failed.ok ? '' : failed.error).toMatch(/timed out after 5000 ms/);
    });
  });
});
