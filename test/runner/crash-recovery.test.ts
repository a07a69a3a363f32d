import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';
import type { TaskContext } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDb } from '../helpers/store.js';
import { flushMicrotasks } from '../helpers/tasks.js';

const fixture = join(import.meta.dirname, '..', 'fixtures', 'crash-child.ts');

interface Submitted {
  quick: string[];
  slow: string[];
  functions: string[];
}

/**
 * Runs the fixture until every quick task completed and the slots are full of slow ones, then
 * kills it with SIGKILL (no exit handler, no last write). Resolves with the ids it submitted.
 */
async function runAndKill(db: string, log: string): Promise<Submitted> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, db, log], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let submitted: Submitted | undefined;
  const completed = new Set<string>();
  const started = new Set<string>();
  for await (const line of createInterface({ input: child.stdout })) {
    const [kind, rest = ''] = line.split(/ (.*)/s);
    if (kind === 'submitted') submitted = JSON.parse(rest) as Submitted;
    if (kind === 'completed') completed.add(rest);
    if (kind === 'started') started.add(rest);
    // 12 quick ones done, and 6 slow ones (3 function, 3 named) hold every slot.
    if (submitted && completed.size === 12 && started.size === 18) break;
  }
  if (!submitted || completed.size !== 12 || started.size !== 18) {
    throw new Error(`the child exited early: ${completed.size} completed, ${started.size} started`);
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return submitted;
}

function logLines(log: string): { kind: string; id: string; attempt: number; pid: number }[] {
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [kind, id, attempt, pid] = line.split(' ');
      return { kind: kind!, id: id!, attempt: Number(attempt), pid: Number(pid) };
    });
}

describe('crash recovery', () => {
  let db: ReturnType<typeof tempDb>;
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(() => db.cleanup());

  describe('when the process running the tasks is killed with SIGKILL', () => {
    it('ends every submitted task completed or lost on restart: none vanished, none ran again after completing', async () => {
      const log = join(db.dir, 'runs.log');
      const { quick, slow, functions } = await runAndKill(db.path, log);

      // What the dead process left on disk.
      const reader = sqliteStore({ path: db.path });
      const before = new Map(reader.list().map((task) => [task.id, task]));
      reader.close();
      const everyId = [...quick, ...slow, ...functions];
      expect(everyId.every((id) => before.has(id))).toBe(true);
      const completedBefore = everyId.filter((id) => before.get(id)!.status === 'completed');
      expect(completedBefore.sort()).toEqual([...quick].sort());
      // Six slots: the three function tasks and three slow named ones were running, five named ones pending.
      expect(functions.map((id) => before.get(id)!.status)).toEqual(['running', 'running', 'running']);
      expect(slow.map((id) => before.get(id)!.status)).toEqual([...Array(3).fill('running'), ...Array(5).fill('pending')]);

      // Restart on the same file, in this process.
      const recovered: string[] = [];
      const runner = new BackgroundRunner({ store: sqliteStore({ path: db.path }), onRecovered: (task) => recovered.push(task.id) });
      runner.define('work', async (_ms: number, ctx: TaskContext) => {
        const { appendFileSync } = await import('node:fs');
        const attempt = runner.getTask(ctx.taskId)?.attempt;
        appendFileSync(log, `start ${ctx.taskId} ${attempt} ${process.pid}\n`);
        appendFileSync(log, `done ${ctx.taskId} ${attempt} ${process.pid}\n`);
        return 'rerun';
      });
      const result = await runner.recover();
      await runner.onIdle();
      await flushMicrotasks();
      await runner.stop();

      expect(result.requeued.map((t) => t.id).sort()).toEqual([...slow].sort());
      expect(result.lost.map((t) => t.id).sort()).toEqual([...functions].sort());
      expect(recovered.sort()).toEqual([...slow, ...functions].sort());

      const afterReader = sqliteStore({ path: db.path });
      const after = new Map(afterReader.list().map((task) => [task.id, task]));
      afterReader.close();
      for (const id of [...quick, ...slow]) expect(after.get(id)?.status).toBe('completed');
      for (const id of functions) expect(after.get(id)).toMatchObject({ status: 'lost', error: { name: 'TaskLostError' } });

      const lines = logLines(log);
      // Tasks whose completion was on disk never started again.
      for (const id of completedBefore) {
        expect(lines.filter((l) => l.id === id && l.kind === 'start').map((l) => l.pid)).not.toContain(process.pid);
      }
      // Every named task completed exactly once.
      for (const id of [...quick, ...slow]) expect(lines.filter((l) => l.id === id && l.kind === 'done')).toHaveLength(1);
      // The slow ones that were running were re-run as their next attempt; pending ones as their first.
      for (const id of slow) {
        const wasRunning = before.get(id)!.status === 'running';
        const rerun = lines.find((l) => l.id === id && l.pid === process.pid && l.kind === 'start');
        expect(rerun?.attempt).toBe(wasRunning ? 2 : 1);
      }
    }, 60_000);
  });
});
