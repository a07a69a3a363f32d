// Issue #11 "Broken" item 1: the process stays alive exactly while a task is pending, running or
// retrying (unless the runner is paused with nothing admitted), and exits by itself otherwise.
// vitest keeps its own process alive, so each case runs in a child process of its own.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('../fixtures/keep-alive.mjs', import.meta.url));
const cwd = fileURLToPath(new URL('../..', import.meta.url));

interface Exit {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a scenario; a process still alive after `limitMs` is killed (and reported as such). */
function scenario(name: string, limitMs = 15_000): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', fixture, name], { cwd, timeout: limitMs }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number; killed?: boolean }) | null;
      resolve({ code: failure ? (failure.code ?? null) : 0, killed: failure?.killed ?? false, stdout: stdout.trim(), stderr });
    });
  });
}

describe('the process a runner lives in', () => {
  describe('while a task waits to retry', () => {
    it('stays alive until the retry runs (the README Retries example)', async () => {
      const exit = await scenario('retries');
      expect(exit).toMatchObject({ code: 0, stdout: 'answer to hello 3' });
    });

    it('stays alive for a retry with no backoff', async () => {
      expect(await scenario('retry-zero')).toMatchObject({ code: 0, stdout: 'ok' });
    });
  });

  it('stays alive while tasks wait for a rate-limit window', async () => {
    expect(await scenario('rate-limit')).toMatchObject({ code: 0, stdout: 'ran 7 of 7' });
  });

  it('stays alive until a task awaiting a promise that never settles reaches its timeout', async () => {
    expect(await scenario('timeout')).toMatchObject({ code: 0, stdout: 'TaskTimeoutError' });
  });

  it('stays alive while a task runs, however long', async () => {
    expect(await scenario('running-forever')).toMatchObject({ code: 0, stdout: 'still alive' });
  });

  it('exits when the runner is paused with nothing running', async () => {
    expect(await scenario('paused')).toMatchObject({ code: 0, stdout: 'pending' });
  });

  it('exits after stop(), even with a task that never settles', async () => {
    expect(await scenario('stopped')).toMatchObject({ code: 0, stdout: 'cancelled' });
  });

  it('exits once the work is done, without waiting for cleanupDelay', async () => {
    expect(await scenario('done')).toMatchObject({ code: 0, stdout: 'done' });
  });
});
