import { describe, expect, it, vi } from 'vitest';
import { TaskFailedError } from '../../src/index.js';
import type { TaskMachineEvent } from '../../src/index.js';
import { Execution } from '../../src/actors/run-function.js';
import { deferred, flushMicrotasks } from '../helpers/tasks.js';

const now = () => 123;

describe('Execution', () => {
  it('calls the work once, as fn(...args, context), even when attached twice', async () => {
    const fn = vi.fn(async (a: number, b: number) => a + b);
    const execution = new Execution('t1', fn, [1, 2], now);
    const events: TaskMachineEvent[] = [];
    execution.attach((event) => events.push(event));
    execution.attach((event) => events.push(event));
    await flushMicrotasks();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn.mock.calls[0]?.slice(0, 2)).toEqual([1, 2]);
    expect((fn.mock.calls[0] as unknown[] | undefined)?.[2]).toMatchObject({ taskId: 't1' });
    expect(events).toEqual([{ type: 'done', output: 3, at: 123 }]);
  });

  it('tells the work which attempt it is in context.attempt', async () => {
    const seen: number[] = [];
    const execution = new Execution('t1', (context: { attempt: number }) => seen.push(context.attempt), [], now);
    execution.attach(() => {}, 1);
    await flushMicrotasks();
    execution.attach(() => {}, 2);
    await flushMicrotasks();
    expect(seen).toEqual([1, 2]);
  });

  it('settles a sync return value on a later tick, like a resolved promise', async () => {
    const execution = new Execution('t1', () => 'sync', [], now);
    const events: TaskMachineEvent[] = [];
    execution.attach((event) => events.push(event));
    expect(events).toEqual([]);
    await flushMicrotasks();
    expect(events).toEqual([{ type: 'done', output: 'sync', at: 123 }]);
  });

  it('reports a sync throw as an error, wrapping non-Error values with the value as cause', async () => {
    const events: TaskMachineEvent[] = [];
    new Execution(
      't1',
      () => {
        throw 'plain string';
      },
      [],
      now,
    ).attach((event) => events.push(event));
    await flushMicrotasks();
    const event = events[0] as Extract<TaskMachineEvent, { type: 'error' }>;
    expect(event.error).toBeInstanceOf(TaskFailedError);
    expect(event.error.cause).toBe('plain string');
    expect(event.error.message).toContain('"plain string"');
  });

  it('routes progress to the listener attached now, and rejects fractions outside 0..1', async () => {
    const gate = deferred<void>();
    let report!: (fraction: number, message?: string) => void;
    const execution = new Execution(
      't1',
      async (ctx: { reportProgress: typeof report }) => {
        report = ctx.reportProgress;
        await gate.promise;
      },
      [],
      now,
    );
    const first: TaskMachineEvent[] = [];
    const second: TaskMachineEvent[] = [];
    execution.attach((event) => first.push(event));
    report(0.2, 'a');
    execution.attach((event) => second.push(event));
    report(0.4);
    expect(() => report(1.5)).toThrow(RangeError);
    expect(() => report(Number.NaN)).toThrow(/`fraction` to be a number from 0 to 1/);
    expect(first).toEqual([{ type: 'progress', fraction: 0.2, message: 'a' }]);
    expect(second).toEqual([{ type: 'progress', fraction: 0.4, message: undefined }]);
    gate.resolve();
  });

  it('aborts the signal with the given reason and ignores the late result', async () => {
    const gate = deferred<string>();
    let signal!: AbortSignal;
    const execution = new Execution(
      't1',
      (ctx: { signal: AbortSignal }) => {
        signal = ctx.signal;
        return gate.promise;
      },
      [],
      now,
    );
    const events: TaskMachineEvent[] = [];
    execution.attach((event) => events.push(event));
    const reason = new Error('stop');
    execution.abort(reason);
    gate.resolve('too late');
    await flushMicrotasks();
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(events).toEqual([]);
  });

  it('hands work that reads its signal only after an abort an already-aborted signal', async () => {
    const gate = deferred<void>();
    let ctx!: { signal: AbortSignal };
    const execution = new Execution(
      't1',
      async (context: { signal: AbortSignal }) => {
        ctx = context;
        await gate.promise;
      },
      [],
      now,
    );
    execution.attach(() => undefined);
    execution.abort('why');
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe('why');
    gate.resolve();
  });
});
