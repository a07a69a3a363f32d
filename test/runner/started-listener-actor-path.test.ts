// Issue #12.8 on the rewritten runner: since issue #10 reading `runner.supervisor` no longer sends
// syncs through the actor (only `inspect` does, or a rate limit), so the branch's "actor path"
// test runs the in-place path. These hold the batch back where the actor really admits.
import { describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import { flushMicrotasks } from '../helpers/tasks.js';

const blocked = () => new Promise<void>(() => undefined);

describe('control calls from a started listener, on the supervisor actor path', () => {
  for (const [what, options] of [
    ['with an inspector', { inspect: () => undefined }],
    ['with a rate limit', { rateLimit: { max: 100, interval: 60_000 } }],
  ] as const) {
    describe(`when the supervisor admits through its actor (${what})`, () => {
      it('pause() holds back the rest of the batch, and resume() starts it', async () => {
        const runner = new BackgroundRunner({ maxConcurrentTasks: 3, ...options });
        runner.once('started', () => runner.pause());
        const tasks = await Promise.all([1, 2, 3].map(() => runner.submit(blocked)));
        await flushMicrotasks();
        expect(tasks.map((task) => task.status)).toEqual(['running', 'pending', 'pending']);
        expect(runner.supervisor.getSnapshot().context.running).toBe(1);
        runner.resume();
        await flushMicrotasks();
        expect(runner.runningTasks).toHaveLength(3);
        await runner.stop();
      });

      it('setConcurrency(2) lets exactly one more of the batch start', async () => {
        const runner = new BackgroundRunner({ maxConcurrentTasks: 4, ...options });
        runner.once('started', () => runner.setConcurrency(2));
        const tasks = await Promise.all([1, 2, 3, 4].map(() => runner.submit(blocked)));
        await flushMicrotasks();
        expect(tasks.map((task) => task.status)).toEqual(['running', 'running', 'pending', 'pending']);
        expect(runner.supervisor.getSnapshot().context.running).toBe(2);
        await runner.stop();
      });
    });
  }
});
