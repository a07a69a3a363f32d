import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { BackgroundTask, TaskSnapshot } from '../../src/index.js';
import { deferred, sleepWork } from '../helpers/tasks.js';

/** Internal: whether the handle holds an actor (only `task.actor` or an inspector creates one). */
const hasActor = (task: BackgroundTask) => (task as unknown as { _actor: unknown })._actor !== undefined;

describe('observing a task without an actor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('getSnapshot()', () => {
    it('gives a genuine taskMachine snapshot: value, context, matches, can, hasTag, status', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(100, 'ok'), { name: 'job' });
      const snapshot = task.getSnapshot();
      expect(snapshot.value).toBe('running');
      expect(snapshot.status).toBe('active');
      expect(snapshot.context).toMatchObject({ taskId: task.id, name: 'job', attempt: 1 });
      expect(snapshot.matches('running')).toBe(true);
      expect(snapshot.matches('pending')).toBe(false);
      expect(snapshot.can({ type: 'cancel', at: 0 })).toBe(true);
      expect(snapshot.can({ type: 'start', at: 0 })).toBe(false);
      expect(snapshot.hasTag('anything')).toBe(false);
      expect(hasActor(task)).toBe(false);
      await vi.advanceTimersByTimeAsync(100);
      const done = task.getSnapshot();
      expect([done.value, done.status, done.context.result]).toEqual(['completed', 'done', 'ok']);
      expect(done.can({ type: 'cancel', at: 0 })).toBe(false);
      expect(hasActor(task)).toBe(false);
    });

    it('equals the snapshot of the actor the task gets later, in value, status and context', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      await runner.submit(() => new Promise(() => undefined));
      const queued = await runner.submit(() => 1, { metadata: { n: 1 } });
      const plain = queued.getSnapshot();
      const real = queued.actor.getSnapshot();
      expect([plain.value, plain.status, plain.context]).toEqual([real.value, real.status, real.context]);
      expect(JSON.stringify(plain)).toBe(JSON.stringify(real));
    });

    it('returns the same object while nothing changed', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(10, 1));
      expect(task.getSnapshot()).toBe(task.getSnapshot());
    });
  });

  describe('subscribe()', () => {
    it('delivers every transition and progress report, then completes, without an actor', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const gate = deferred();
      await runner.submit(() => gate.promise);
      const task = await runner.submit(async (ctx: { reportProgress(f: number, m?: string): void }) => {
        ctx.reportProgress(0.3, 'reading');
        await new Promise((resolve) => setTimeout(resolve, 10));
        return 'text';
      });
      const seen: string[] = [];
      let completed = 0;
      task.subscribe({ next: (s: TaskSnapshot) => seen.push(`${s.value}:${s.context.progress}`), complete: () => (completed += 1) });
      gate.resolve(undefined);
      await vi.advanceTimersByTimeAsync(10);
      expect(seen).toEqual(['running:0', 'running:0.3', 'completed:1']);
      expect(completed).toBe(1);
      expect(hasActor(task)).toBe(false);
    });

    it('stops delivering after unsubscribe', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(10, 1), { retries: 0 });
      const seen: unknown[] = [];
      const subscription = task.subscribe((s) => seen.push(s.value));
      subscription.unsubscribe();
      await vi.advanceTimersByTimeAsync(10);
      expect(seen).toEqual([]);
    });

    it('completes at once on a finished task', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(() => 1);
      await task.wait();
      const complete = vi.fn();
      task.subscribe({ complete });
      expect(complete).toHaveBeenCalledTimes(1);
    });

    it("does not hang a task observed from a 'started' listener (issue 12, item 6)", async () => {
      const runner = new BackgroundRunner();
      const seen: string[] = [];
      runner.on('started', ({ task }) => task.subscribe((s) => seen.push(String(s.value))));
      const task = await runner.submit(sleepWork(50, 'ok'), { timeout: 1_000 });
      await vi.advanceTimersByTimeAsync(50);
      await expect(task.wait()).resolves.toBe('ok');
      expect(seen).toEqual(['completed']);
    });

    it("reports an observer that throws on 'error', and the task goes on", async () => {
      const runner = new BackgroundRunner();
      const errors: unknown[] = [];
      runner.on('error', ({ error, source }) => errors.push([source, (error as Error).message]));
      const task = await runner.submit(sleepWork(10, 'ok'));
      task.subscribe(() => {
        throw new Error('render failed');
      });
      await vi.advanceTimersByTimeAsync(10);
      await expect(task.wait()).resolves.toBe('ok');
      expect(errors).toEqual([['listener', 'render failed']]);
    });

    it('keeps delivering after the task gets an actor', async () => {
      const runner = new BackgroundRunner();
      const task = await runner.submit(sleepWork(10, 'ok'));
      const seen: string[] = [];
      task.subscribe((s) => seen.push(`${s.value}`));
      void task.actor;
      await vi.advanceTimersByTimeAsync(10);
      expect(seen).toEqual(['completed']);
    });
  });
});

describe('memory of observed tasks', () => {
  it.each([
    ['subscribed', false],
    ['inspected, each with its actor', true],
  ])('stays flat across many %s tasks once they are gone', async (_name, inspected) => {
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const runner = new BackgroundRunner({ maxConcurrentTasks: 100, cleanupDelay: 0, inspect: inspected ? () => undefined : undefined });
    const round = async () => {
      for (let i = 0; i < 10_000; i += 1) {
        const task = await runner.submit(async () => i);
        task.subscribe(() => undefined);
        task.getSnapshot();
      }
      await runner.onIdle();
      await new Promise((resolve) => setImmediate(resolve));
    };
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    await round();
    const before = heap();
    await round();
    await round();
    const after = heap();
    // 20,000 more observed tasks: ~100 bytes per task that survived would show as 2 MB.
    expect(after - before).toBeLessThan(2 * 2 ** 20);
    await runner.stop();
  });
});
