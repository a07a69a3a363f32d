import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NonRetryableError, TaskFailedError, TaskTimeoutError } from '../../src/index.js';
import { decodeFailure, encodeError, toBullmqPriority } from '../../src/backends/bullmq/codec.js';

const run = promisify(execFile);

describe('the BullMQ codec', () => {
  describe('when mapping priority', () => {
    it('keeps "higher first" as BullMQ\'s "lower first", within BullMQ\'s range, never 0 (none)', () => {
      fc.assert(
        fc.property(
          fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e7, max: 1e7 }),
          fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e7, max: 1e7 }),
          (a, b) => {
            const [pa, pb] = [toBullmqPriority(a), toBullmqPriority(b)];
            for (const p of [pa, pb]) expect(p >= 1 && p <= 2_097_151 && Number.isInteger(p)).toBe(true);
            if (a > b) expect(pa).toBeLessThanOrEqual(pb);
          },
        ),
      );
      expect(toBullmqPriority(1)).toBeLessThan(toBullmqPriority(0));
    });
  });

  describe('when an error crosses Redis', () => {
    it('arrives as the same class with the same message', () => {
      fc.assert(
        fc.property(fc.string(), fc.integer({ min: 1, max: 1e6 }), (message, ms) => {
          const timeout = decodeFailure('t', encodeError(new TaskTimeoutError('t', ms)));
          expect(timeout.kind === 'error' && timeout.error instanceof TaskTimeoutError && timeout.error.timeoutMs === ms).toBe(true);
          const refused = decodeFailure('t', encodeError(new NonRetryableError(message)));
          expect(refused.kind === 'error' && refused.error instanceof NonRetryableError && refused.error.message === message).toBe(true);
          const plain = decodeFailure('t', encodeError(new SyntaxError(message)));
          expect(plain.kind === 'error' && plain.error.name === 'SyntaxError' && plain.error.message === message).toBe(true);
        }),
      );
      const failed = decodeFailure('t', encodeError(new TaskFailedError('t', 'x')));
      expect(failed.kind === 'error' && failed.error instanceof TaskFailedError).toBe(true);
    });

    it('reads a reason BullMQ wrote itself as a plain Error, and a stall past the limit as lost', () => {
      expect(decodeFailure('t', 'something broke')).toMatchObject({ kind: 'error', error: { message: 'something broke' } });
      expect(decodeFailure('t', 'job stalled more than allowable limit').kind).toBe('lost');
    });
  });

  describe('when only tasklane is imported', () => {
    it('does not load bullmq or ioredis (but tasklane/bullmq does)', async () => {
      const graph = async (module: string): Promise<string[]> => {
        const { stdout } = await run(
          process.execPath,
          [
            '--import',
            'tsx',
            fileURLToPath(new URL('../fixtures/import-graph.mjs', import.meta.url)),
            new URL(module, import.meta.url).href,
          ],
          {
            cwd: fileURLToPath(new URL('../..', import.meta.url)),
            timeout: 15_000,
          },
        );
        return JSON.parse(stdout) as string[];
      };
      const core = await graph('../../src/index.ts');
      expect(core.filter((url) => /\/node_modules\/(bullmq|ioredis)\//.test(url))).toEqual([]);
      const backend = await graph('../../src/backends/bullmq/bullmq-backend.ts');
      expect(backend.some((url) => url.includes('/node_modules/bullmq/'))).toBe(true);
    });
  });
});
