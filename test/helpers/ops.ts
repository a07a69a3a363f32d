import fc from 'fast-check';
import { vi } from 'vitest';
import type { BackgroundRunner } from '../../src/index.js';
import { deferred } from './tasks.js';
import type { Deferred } from './tasks.js';

/** The runner-wide steps of the scheduling properties: pause, resume, resize, let time pass. */
export type ControlOp = { kind: 'pause' | 'resume' } | { kind: 'setConcurrency'; n: number } | { kind: 'advance'; ms: number };

/** Weighted arbitraries for {@link ControlOp}, to spread into `fc.oneof`. */
export function controlOps(advanceWeight: number, maxAdvanceMs: number) {
  return [
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('pause' as const, 'resume' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('setConcurrency' as const), n: fc.integer({ min: 1, max: 4 }) }) },
    {
      weight: advanceWeight,
      arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: maxAdvanceMs }) }),
    },
  ];
}

/** What a property checks starts against: the limit in force and whether the runner is paused. */
export interface Watched {
  limit: number;
  paused: boolean;
}

/** Applies a {@link ControlOp} to `runner` (time through vitest's fake timers) and notes it in `watched`. */
export async function applyControl(runner: BackgroundRunner, step: ControlOp, watched: Watched): Promise<void> {
  switch (step.kind) {
    case 'pause':
      runner.pause();
      watched.paused = true;
      break;
    case 'resume':
      watched.paused = false;
      runner.resume();
      break;
    case 'setConcurrency':
      watched.limit = step.n;
      runner.setConcurrency(step.n);
      break;
    case 'advance':
      await vi.advanceTimersByTimeAsync(step.ms);
      break;
  }
}

/** A promise for one attempt of a task, kept in `gates` (that task's attempts) for a later step to end. */
export function openGate(gates: Deferred<string>[]): Promise<string> {
  const gate = deferred<string>();
  gate.promise.catch(() => undefined);
  gates.push(gate);
  return gate.promise;
}

/** Ends the latest attempt of task `i`: with `r${i}` for 'complete', with the Error `f${i}` for 'fail'. */
export function endAttempt(kind: 'complete' | 'fail', i: number, gates: Deferred<string>[][]): void {
  const current = gates[i]!.at(-1);
  if (kind === 'complete') current?.resolve(`r${i}`);
  else current?.reject(new Error(`f${i}`));
}
