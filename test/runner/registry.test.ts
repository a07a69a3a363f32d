import { describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { deferred } from '../helpers/tasks.js';

describe('registry', () => {
  it('is an @xstate/store of task summaries, seeded with tasks submitted before first use', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    const gate = deferred();
    const a = await runner.submit(() => gate.promise, { name: 'a' });
    const { context } = runner.registry.getSnapshot();
    expect(context.tasks.get(a.id)).toMatchObject({ name: 'a', status: 'running', progress: 0 });
    expect(context.counts).toEqual({ pending: 0, running: 1, retrying: 0, completed: 0, failed: 0, cancelled: 0, lost: 0 });
    gate.resolve(undefined);
  });

  it('lets a UI select counts and one task, notifying only on change', async () => {
    const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
    const runningCounts: number[] = [];
    runner.registry.select((c) => c.counts.running).subscribe((n) => runningCounts.push(n));
    const gate = deferred();
    const task = await runner.submit(
      async (ctx: TaskContext) => {
        ctx.reportProgress(0.5, 'half');
        await gate.promise;
        return 'x';
      },
      { name: 'watched' },
    );
    const progress: number[] = [];
    runner.registry.select((c) => c.tasks.get(task.id)?.progress).subscribe((p) => progress.push(p ?? -1));
    const other = await runner.submit(() => 1, { name: 'other' });
    gate.resolve(undefined);
    await runner.waitAll();
    expect(progress).toEqual([1]);
    expect(runningCounts).toEqual([1, 0, 1, 0]);
    expect(runner.registry.getSnapshot().context.tasks.get(other.id)?.status).toBe('completed');
  });

  it('drops removed tasks and keeps counts right', async () => {
    const runner = new BackgroundRunner();
    void runner.registry;
    const ok = await runner.submit(() => 1);
    const bad = await runner.submit(() => Promise.reject(new Error('no')));
    await runner.waitAll();
    const before = runner.registry.getSnapshot().context;
    expect(before.counts).toMatchObject({ completed: 1, failed: 1 });
    expect(before.tasks.get(bad.id)?.error).toBe('no');
    runner.clearCompleted();
    const after = runner.registry.getSnapshot().context;
    expect(after.tasks.size).toBe(0);
    expect(after.counts).toEqual({ pending: 0, running: 0, retrying: 0, completed: 0, failed: 0, cancelled: 0, lost: 0 });
    expect(after.version).toBeGreaterThan(before.version);
    expect(ok.result).toBe(1);
  });
});
