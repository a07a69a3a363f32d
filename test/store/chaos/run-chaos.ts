// `npm run chaos -- [seed] [kills] [rounds]`: the long chaos run. Prints the report; exits 1 on
// any acknowledged task that vanished, did not end final, or ran again after its final commit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from './chaos.js';

const [seed = Date.now() % 1_000_000, kills = 50, rounds = 60] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'tasklane-chaos-'));
const started = performance.now();
try {
  console.log(`chaos: seed ${seed}, ${kills} kills, ${rounds} submit rounds per process`);
  const report = await runChaos({ dir, seed, kills, rounds });
  console.log(JSON.stringify({ ...report, seconds: Math.round((performance.now() - started) / 1_000) }, null, 2));
  const broken = report.vanished.length + report.notFinal.length + report.rerunAfterCommit.length;
  process.exitCode = broken === 0 ? 0 : 1;
  console.log(broken === 0 ? 'ok: nothing lost, nothing re-run after its commit' : `FAILED (seed ${seed})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
