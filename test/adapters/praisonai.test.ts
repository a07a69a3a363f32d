import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it, vi } from 'vitest';
import type { Agent as PraisonAgent } from 'praisonai';
import { BackgroundRunner, TaskCancelledError, TaskTimeoutError } from '../../src/index.js';
import { praisonAgent } from '../../src/adapters/praisonai.js';
import { startFakeModelServer } from '../helpers/openai-server.js';
import type { FakeModelServer, SeenRequest } from '../helpers/openai-server.js';

const TOKENS = Array.from({ length: 60 }, (_, i) => `tok${i} `);

// praisonai reads OPENAI_API_KEY when it is imported and its `openai` client reads
// OPENAI_BASE_URL when first used: point both at the local server before importing it.
let server: FakeModelServer;
let Agent: typeof PraisonAgent;
const savedEnv = { key: process.env['OPENAI_API_KEY'], url: process.env['OPENAI_BASE_URL'] };

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** The request whose user message is `prompt`. */
async function requestFor(prompt: string): Promise<SeenRequest> {
  await expect.poll(() => server.requests.some((r) => r.body.messages?.some((m) => m.content === prompt))).toBe(true);
  return server.requests.find((r) => r.body.messages?.some((m) => m.content === prompt))!;
}

describe('tasklane/praisonai', () => {
  beforeAll(async () => {
    server = await startFakeModelServer({ tokens: TOKENS, intervalMs: 25 });
    process.env['OPENAI_API_KEY'] = 'test-key';
    process.env['OPENAI_BASE_URL'] = server.baseURL;
    ({ Agent } = await import('praisonai'));
  });
  afterAll(async () => {
    await server.close();
    restore('OPENAI_API_KEY', savedEnv.key);
    restore('OPENAI_BASE_URL', savedEnv.url);
  });
  // PraisonAI echoes streamed tokens to stdout itself; keep the test output readable.
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('runs Agent.start(prompt) against the model, streaming its tokens, and completes with the answer', async () => {
    const agent = praisonAgent(new Agent({ instructions: 'You are terse', name: 'terse', verbose: false }));
    expect(agent.abortsRequests).toBe(true);
    const runner = new BackgroundRunner();
    const chunks: string[] = [];
    const task = await runner.submitAgent(agent, 'full answer please', { onChunk: (chunk) => chunks.push(chunk as string) });
    await expect(task.wait()).resolves.toBe(TOKENS.join(''));
    expect(chunks).toEqual(TOKENS);
    expect(task.name).toBe('terse.run');
    const request = await requestFor('full answer please');
    expect(request.body.stream).toBe(true);
    await expect(request.closed).resolves.toEqual({ early: false });
  });

  it('aborts the agent’s HTTP request when the task is cancelled mid-stream', async () => {
    const runner = new BackgroundRunner();
    let onThird!: () => void;
    const third = new Promise<void>((resolve) => (onThird = resolve));
    const task = await runner.submitAgent(praisonAgent(new Agent({ instructions: 'x', verbose: false })), 'cancel me', {
      onChunk: () => {
        if (task.chunks === 3) onThird();
      },
    });
    await third;
    await task.cancel('user stopped it');
    const request = await requestFor('cancel me');
    await expect(request.closed).resolves.toEqual({ early: true });
    expect(request.tokensSent).toBeLessThan(TOKENS.length);
    await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
  });

  it('aborts the agent’s HTTP request when the task times out', async () => {
    const runner = new BackgroundRunner();
    const task = await runner.submitAgent(praisonAgent(new Agent({ instructions: 'x', verbose: false })), 'time me out', {
      timeout: 400,
    });
    const request = await requestFor('time me out');
    await expect(request.closed).resolves.toEqual({ early: true });
    await expect(task.wait()).rejects.toBeInstanceOf(TaskTimeoutError);
  });

  it('aborts only the cancelled task’s request when one agent serves two tasks', async () => {
    const agent = praisonAgent(new Agent({ instructions: 'shared', verbose: false }));
    const runner = new BackgroundRunner();
    const kept = await runner.submitAgent(agent, 'keep going');
    const dropped = await runner.submitAgent(agent, 'drop me');
    const droppedRequest = await requestFor('drop me');
    const keptRequest = await requestFor('keep going');
    await dropped.cancel();
    await expect(droppedRequest.closed).resolves.toEqual({ early: true });
    await expect(kept.wait()).resolves.toBe(TOKENS.join(''));
    await expect(keptRequest.closed).resolves.toEqual({ early: false });
  });

  describe('with an agent of another shape', () => {
    it('still ends the task on cancel, and says it cannot abort the request', async () => {
      let finish!: (value: string) => void;
      const agent = praisonAgent({ start: () => new Promise<string>((resolve) => (finish = resolve)) });
      expect(agent.abortsRequests).toBe(false);
      const runner = new BackgroundRunner();
      const task = await runner.submitAgent(agent, 'slow');
      await expect.poll(() => finish).toBeDefined();
      await task.cancel();
      expect(task.status).toBe('cancelled');
      finish('too late');
      await expect(task.wait()).rejects.toBeInstanceOf(TaskCancelledError);
      expect(task.result).toBeUndefined();
    });

    it('throws a TypeError for something without start', () => {
      expect(() => praisonAgent({} as never)).toThrow('Expected `agent` to be a PraisonAI Agent with a start method, got object');
    });
  });
});
