import { describe, expect, it } from 'vitest';
import { eitherSignal, pushStream } from '../../src/actors/stream-work.js';
import { deferred } from '../helpers/tasks.js';

async function drain<T, R>(stream: AsyncGenerator<T, R>): Promise<{ items: T[]; result: R }> {
  const items: T[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done) return { items, result: step.value };
    items.push(step.value);
  }
}

describe('pushStream', () => {
  it('yields pushed items in order, bursts included, and returns what the call resolves to', async () => {
    const stream = pushStream<number, string>(new AbortController().signal, async (push) => {
      push(1);
      push(2);
      await Promise.resolve();
      push(3);
      return 'done';
    });
    await expect(drain(stream)).resolves.toEqual({ items: [1, 2, 3], result: 'done' });
  });

  it('hands over items pushed before the call rejects, then throws its error', async () => {
    const items: number[] = [];
    const stream = pushStream<number, never>(new AbortController().signal, async (push) => {
      push(1);
      throw new Error('call failed');
    });
    await expect(
      (async () => {
        for await (const item of stream) items.push(item);
      })(),
    ).rejects.toThrow('call failed');
    expect(items).toEqual([1]);
  });

  it('rejects the pending wait with the abort reason, without waiting for the call', async () => {
    const controller = new AbortController();
    const call = deferred<string>();
    const stream = pushStream<number, string>(controller.signal, () => call.promise);
    const next = stream.next();
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(next).rejects.toBe(reason);
    call.resolve('late');
    await expect(stream.next()).resolves.toEqual({ done: true, value: undefined });
  });
});

describe('eitherSignal', () => {
  it('aborts when either signal aborts, with that signal’s reason', () => {
    const a = new AbortController();
    const b = new AbortController();
    const both = eitherSignal(a.signal, b.signal);
    b.abort('b went first');
    expect(both.aborted).toBe(true);
    expect(both.reason).toBe('b went first');
    expect(eitherSignal(a.signal, undefined)).toBe(a.signal);
  });
});
