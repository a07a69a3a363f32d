import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredTask } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/** A fresh directory with a database path in it; `cleanup()` removes both. */
export function tempDb(): { path: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-'));
  return { dir, path: join(dir, 'tasks.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let dead: number | undefined;

/** The pid of a process that has exited: what a crashed runner leaves in the lock. */
export function deadPid(): number {
  if (dead === undefined) {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    dead = Number(child.stdout);
  }
  return dead;
}

/** A record as a runner writes it, with defaults for what a test does not care about. */
export function record(overrides: Partial<StoredTask> & Pick<StoredTask, 'id'>): Omit<StoredTask, 'cancelRequested'> {
  return {
    name: 'work',
    handler: 'work',
    args: [],
    status: 'pending',
    attempt: 0,
    maxAttempts: 1,
    timeout: null,
    retryOnTimeout: true,
    backoff: { type: 'fixed', delay: 0 },
    priority: 0,
    group: null,
    metadata: {},
    progress: 0,
    message: null,
    result: null,
    error: null,
    createdAt: 1_000,
    startedAt: null,
    completedAt: null,
    delivered: false,
    owner: 'dead-runner',
    updatedAt: 1_000,
    ...overrides,
  };
}

/** Writes records into `path` as a runner whose process then died (its lock left behind). */
export function leaveBehind(path: string, records: Omit<StoredTask, 'cancelRequested'>[]): void {
  const store = sqliteStore({ path });
  store.acquire({ id: 'dead-runner', pid: deadPid(), host: hostname() });
  store.write(records);
  store.close(); // closes without releasing the lock, like a killed process
}
