import { describe, expect, it } from 'vitest';
import { BackgroundRunner } from '../../src/index.js';

// Issue #11: the 'error' event's `error` is an Error, whatever a callback threw.
describe("the 'error' event", () => {
  describe('when a callback throws something that is not an Error', () => {
    it('delivers an Error whose cause is the thrown value', async () => {
      const runner = new BackgroundRunner();
      const received: unknown[] = [];
      runner.on('error', ({ error, source }) => received.push([error, source]));
      runner.on('completed', () => {
        throw 'plain string';
      });
      const task = await runner.submit(() => 1);
      await task.wait();
      const [[error, source]] = received as [[Error, string]];
      expect(error).toBeInstanceOf(Error);
      expect(error.cause).toBe('plain string');
      expect(error.message).toBe('listener threw a non-Error value: plain string');
      expect(source).toBe('listener');
      await runner.stop();
    });
  });

  describe('when a callback throws an Error', () => {
    it('delivers that very Error', async () => {
      const runner = new BackgroundRunner();
      const thrown = new RangeError('bad');
      const received: Error[] = [];
      runner.on('error', ({ error }) => received.push(error));
      const task = await runner.submit(() => 1, {
        onComplete: () => {
          throw thrown;
        },
      });
      await task.wait();
      expect(received).toEqual([thrown]);
      expect(received[0]).toBe(thrown);
      await runner.stop();
    });
  });
});
