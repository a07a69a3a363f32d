import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the demo (npm start)', () => {
  it('runs every task to its final state and exits by itself', async () => {
    // Piped output: the demo prints one line per state change instead of redrawing.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 30_000,
    });
    expect(stdout).toMatch(/Summary: 5 completed, 2 failed, 1 cancelled in [\d.]+s, at most 3 at a time/);
    // #11: fits 80 columns, and every transition of every task is there, retries with their attempt.
    const lines = stdout.split('\n');
    expect(lines.filter((line) => [...line].length > 80)).toEqual([]);
    expect(lines.filter((line) => / pending {3}/.test(line))).toHaveLength(8);
    expect(lines.filter((line) => / running {3}/.test(line))).toHaveLength(9);
    expect(stdout).toMatch(/running {3}flaky api \(retries\) attempt 2/);
    expect(stdout).toMatch(/retrying {2}flaky api \(retries\) attempt 1 failed: 429/);
    expect(stdout).toMatch(/scrape \(times out\)\s+TaskTimeoutError: timed out after 1800 ms/);
    expect(stdout).toMatch(/flaky api \(retries\)\s+answer to weather in Oslo \(attempt 2\)/);
    expect(stdout).toMatch(/report \(cancelled\)\s+TaskCancelledError: cancelled: the user changed their mind/);
  }, 40_000);

  it('with --keep-open, serves the dashboard after the run until Ctrl+C (SIGINT), then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--keep-open'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let stdout = '';
      // Waits on the demo's own output, not on a fixed sleep.
      const still = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (data: Buffer) => {
          stdout += String(data);
          const found = /still open: (http:\/\/\S+)/.exec(stdout);
          if (found) resolve(found[1]!);
        });
        child.once('exit', (code) => reject(new Error(`the demo exited (${code}) before saying the dashboard is still open:\n${stdout}`)));
      });
      expect(stdout).toMatch(/Summary: 5 completed, 2 failed, 1 cancelled/);
      const headers = { authorization: `Bearer ${new URL(still).searchParams.get('token')}` };
      const { tasks } = (await (await fetch(new URL('/api/tasks', still), { headers })).json()) as { tasks: { status: string }[] };
      expect(tasks.map((task) => task.status).sort()).toEqual([
        'cancelled',
        'completed',
        'completed',
        'completed',
        'completed',
        'completed',
        'failed',
        'failed',
      ]);
      child.kill('SIGINT');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
