import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import { createWorkerPool, workerTask } from '../../src/worker/worker.js';

// Scenarios that cross the runner, the pool and the process. Worker threads and child processes
// are real, so real time is used; every wait is on an event or a process exit.
const run = promisify(execFile);
const fixtures = new URL('../fixtures/', import.meta.url);
const tasks = new URL('worker-tasks.mjs', fixtures);
const pool = createWorkerPool({ maxThreads: 2 });

afterAll(async () => {
  await pool.destroy();
});

/** Runs a fixture script with `node --import tsx` and resolves with its stdout. */
async function node(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, fixtures)), ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    timeout: 15_000, // kills a process that does not exit by itself, failing the test
  });
  return stdout;
}

describe('BackgroundRunner with worker tasks', () => {
  describe('while CPU-bound tasks run in worker threads', () => {
    it('keeps the main event loop responsive', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 2 });
      const spin = workerTask(fixtures.href + 'worker-tasks.mjs', 'spin', { pool });
      // Warm both threads first, so thread start-up is not part of the measurement.
      await Promise.all([0, 1].map(async () => (await runner.submit(spin, { args: [1] })).wait()));

      const interval = 10;
      let last = performance.now();
      let maxLag = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxLag = Math.max(maxLag, now - last - interval);
        last = now;
      }, interval);
      try {
        const busy = await Promise.all([0, 1].map(() => runner.submit(spin, { args: [500] })));
        await runner.onIdle();
        expect(busy.map((task) => task.status)).toEqual(['completed', 'completed']);
        expect(busy.every((task) => (task.durationMs ?? 0) >= 500)).toBe(true);
      } finally {
        clearInterval(timer);
      }
      // The tick due now counts too: if the loop was blocked throughout, it is the only one.
      maxLag = Math.max(maxLag, performance.now() - last - interval);
      // On the main thread the same work would hold the loop for 500 ms at a stretch, twice. In
      // threads, only CPU contention on a busy machine delays the timer (tens of ms; see bench/README.md).
      expect(maxLag).toBeLessThan(200);
    });
  });

  describe('when more worker tasks are submitted than maxConcurrentTasks', () => {
    it('runs no more of them at once than the runner allows, though the pool has more threads', async () => {
      const runner = new BackgroundRunner({ maxConcurrentTasks: 1 });
      const window = workerTask(tasks, 'window', { pool });
      const submitted = await Promise.all([0, 1, 2].map(() => runner.submit(window, { args: [60] })));
      await runner.onIdle();
      const spans = submitted.map((task) => task.result as { start: number; end: number }).sort((a, b) => a.start - b.start);
      expect(spans).toHaveLength(3);
      for (let i = 1; i < spans.length; i += 1) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end);
    });
  });

  describe('when the runner is stopped', () => {
    it('cancels a running worker task and terminates its thread', async () => {
      const single = createWorkerPool({ maxThreads: 1 });
      try {
        const runner = new BackgroundRunner();
        const started = new Promise((resolve) => runner.once('progress', resolve));
        const busy = await runner.submit(workerTask(tasks, 'busy', { pool: single }));
        await started;
        const destroyed = new Promise((resolve) => single.once('workerDestroy', resolve));
        await runner.stop();
        expect(busy.status).toBe('cancelled');
        await destroyed;
      } finally {
        await single.destroy();
      }
    });
  });

  describe('in a process of its own', () => {
    it('lets the process exit by itself after a worker task on the default pool, without stop()', async () => {
      const stdout = await node('exits-by-itself.mjs');
      expect(stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    });

    it('does not load piscina when only tasklane is imported', async () => {
      const core = JSON.parse(await node('import-graph.mjs', new URL('../../src/index.ts', import.meta.url).href)) as string[];
      expect(core.some((url) => url.endsWith('/src/runner/background-runner.ts'))).toBe(true);
      expect(core.filter((url) => url.includes('/piscina/'))).toEqual([]);
      // The same check sees piscina when tasklane/worker is imported, so it can fail.
      const worker = JSON.parse(await node('import-graph.mjs', new URL('../../src/worker/worker.ts', import.meta.url).href)) as string[];
      expect(worker.some((url) => url.includes('/piscina/'))).toBe(true);
    });
  });
});
