// The chaos harness (issue #12, "Prove it stays fixed"): a child process submits named tasks with
// a SQLite store while this process SIGKILLs it at random moments, including inside recover();
// a last child runs everything left to the end. Then: every task whose submit() resolved ended
// final, none vanished, and none started again after its final state was committed.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sqliteStore } from '../../../src/store/sqlite/sqlite-store.js';

const child = join(import.meta.dirname, 'chaos-child.ts');

export interface ChaosOptions {
  /** The database and log go here. */
  readonly dir: string;
  /** Seeds the choice of kill moments. */
  readonly seed: number;
  /** How many processes are killed before the last one runs to the end. */
  readonly kills: number;
  /** Submit rounds per process (each one or three tasks). */
  readonly rounds: number;
}

export interface ChaosReport {
  readonly acknowledged: number;
  readonly kills: number;
  /** Kills that landed after `recover()` began and before it returned. */
  readonly killedInRecover: number;
  readonly starts: number;
  /** Acknowledged ids with no record, or a record not final. */
  readonly vanished: string[];
  readonly notFinal: string[];
  /** Ids started again after a line that says their final state was committed. */
  readonly rerunAfterCommit: string[];
}

/** A small seeded PRNG (mulberry32): the same seed chooses the same kill moments. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Runs one child; `killWhen` sees each stdout line and says when to SIGKILL it (or never). */
async function life(db: string, log: string, round: number, rounds: number, killWhen?: (line: string, acks: number) => number | undefined) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, db, log, String(round), String(rounds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const acked: string[] = [];
  let inRecover = false;
  let killed = false;
  let killedInRecover = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    killedInRecover = inRecover;
    proc.kill('SIGKILL');
  };
  for await (const line of createInterface({ input: proc.stdout })) {
    if (line === 'recovering') inRecover = true;
    else if (line.startsWith('recovered')) inRecover = false;
    else if (line.startsWith('ack ')) acked.push(line.slice(4));
    const delay = killWhen?.(line, acked.length);
    if (delay !== undefined) {
      if (delay === 0) kill();
      else setTimeout(kill, delay);
    }
  }
  const { code, signal } = await exited;
  if (!killed && code !== 0) throw new Error(`a chaos child exited with code ${code} (signal ${signal})`);
  return { acked, killed: signal === 'SIGKILL', killedInRecover };
}

/** Runs the chaos scenario and reports what it found (the caller asserts). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const { dir, seed, kills, rounds } = options;
  const db = join(dir, 'chaos.db');
  const log = join(dir, 'chaos.log');
  const next = random(seed);
  const acknowledged = new Set<string>();
  let killCount = 0;
  let killedInRecover = 0;
  for (let round = 0; round < kills; round += 1) {
    const mode = next();
    const atAck = Math.floor(next() * rounds);
    const delay = Math.floor(next() * 4);
    const result = await life(db, log, round, rounds, (line, acks) => {
      // A third of the kills aim at recover(), the rest at a moment among the submits.
      if (mode < 1 / 3) return line === 'recovering' ? delay : undefined;
      if (line.startsWith('ack ') && acks === atAck + 1) return delay;
      if (line === 'idle') return 0;
      return undefined;
    });
    for (const id of result.acked) acknowledged.add(id);
    if (result.killed) killCount += 1;
    if (result.killedInRecover) killedInRecover += 1;
  }
  // The last life: nothing killed, so everything left runs to its end.
  const last = await life(db, log, kills, 0);
  for (const id of last.acked) acknowledged.add(id);

  const store = sqliteStore({ path: db, readonly: true });
  const vanished: string[] = [];
  const notFinal: string[] = [];
  try {
    for (const id of acknowledged) {
      const task = store.get(id);
      if (task === undefined) vanished.push(id);
      else if (task.status !== 'completed') notFinal.push(`${id} (${task.status})`);
    }
  } finally {
    store.close();
  }
  const committed = new Set<string>();
  const rerunAfterCommit = new Set<string>();
  let starts = 0;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const [kind, id] = line.split(' ') as [string, string];
    if (kind === 'committed') committed.add(id);
    if (kind === 'start') {
      starts += 1;
      if (committed.has(id)) rerunAfterCommit.add(id);
    }
  }
  return {
    acknowledged: acknowledged.size,
    kills: killCount,
    killedInRecover,
    starts,
    vanished,
    notFinal,
    rerunAfterCommit: [...rerunAfterCommit],
  };
}
