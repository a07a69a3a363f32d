// Issue #12, "Prove it stays fixed": SIGKILL at random moments (seeded), including inside
// recover(); `npm run chaos` runs the same harness long. See test/store/chaos/chaos.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDb } from '../helpers/store.js';
import { runChaos } from './chaos/chaos.js';

describe('a runner with a SQLite store, killed at random moments', () => {
  let db: ReturnType<typeof tempDb>;
  beforeEach(() => {
    db = tempDb();
  });
  afterEach(() => db.cleanup());

  it('ends every acknowledged task final: none vanishes, none runs again after its final state was committed', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 20_261_205);
    const report = await runChaos({ dir: db.dir, seed, kills: 6, rounds: 30 });
    expect({ vanished: report.vanished, notFinal: report.notFinal, rerunAfterCommit: report.rerunAfterCommit }).toEqual({
      vanished: [],
      notFinal: [],
      rerunAfterCommit: [],
    });
    expect(report.kills).toBe(6);
    expect(report.acknowledged).toBeGreaterThan(0);
  }, 60_000);
});

describe('a script that exits right after its promises settle (issue #12, item 1)', () => {
  it('leaves every acknowledged task on disk, and the waited one final', async () => {
    const { execFile } = await import('node:child_process');
    const { join } = await import('node:path');
    const { sqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
    const db = tempDb();
    try {
      const script = join(import.meta.dirname, 'chaos', 'exit-early.ts');
      await new Promise<void>((resolve, reject) =>
        execFile(process.execPath, ['--import', 'tsx', script, db.path, '100'], (error) => (error ? reject(error) : resolve())),
      );
      const store = sqliteStore({ path: db.path, readonly: true });
      const tasks = store.list();
      store.close();
      expect(tasks).toHaveLength(101);
      expect(tasks.at(-1)).toMatchObject({ handler: 'quick', status: 'completed', result: 42 });
    } finally {
      db.cleanup();
    }
  });
});
