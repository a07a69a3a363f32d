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
