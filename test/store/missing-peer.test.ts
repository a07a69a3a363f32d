/**
 * An optional integration imported without its peer dependency fails with an error that says what
 * to install. Module resolution happens outside vitest's reach, so each case runs in a child process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const hide = join(root, 'test', 'fixtures', 'hide-packages.mjs');

/** Imports `entry` (a path under src/) in a child with `hidden` made unresolvable: its exit code and first error line. */
function importWithout(hidden: string, entry: string): Promise<{ code: number; stderr: string }> {
  const url = pathToFileURL(join(root, 'src', entry)).href;
  const script = `import(${JSON.stringify(url)}).then(() => console.log('loaded'), (error) => { console.error(error.code + ' ' + error.message); process.exit(3); });`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', hide, '--input-type=module', '-e', script],
      { cwd: root, env: { ...process.env, TASKLANE_HIDE: hidden } },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr: stderr.trim() }),
    );
  });
}

const cases = [
  ['tasklane/worker', 'piscina', 'worker/worker.ts'],
  ['tasklane/sqlite', 'better-sqlite3', 'store/sqlite/sqlite-store.ts'],
  ['tasklane/otel', '@opentelemetry/api', 'otel/instrument.ts'],
  ['tasklane/ai', 'ai', 'adapters/ai.ts'],
  ['tasklane/langchain', '@langchain/core', 'adapters/langchain.ts'],
  ['tasklane/bullmq', 'bullmq', 'backends/bullmq/bullmq-backend.ts'],
  ['tasklane/bullmq', 'ioredis', 'backends/bullmq/bullmq-backend.ts'],
] as const;

describe('an optional entry imported without its peer dependency', { timeout: 60_000 }, () => {
  it.each(cases)('%s without %s fails with an error naming the package and the install command', async (entry, peer, file) => {
    const { code, stderr } = await importWithout(peer, file);
    expect(code).toBe(3);
    expect(stderr).toBe(
      `ERR_MODULE_NOT_FOUND ${entry} needs ${peer}, an optional peer dependency of tasklane: run \`npm install ${peer}\` and try again.`,
    );
  });

  it('imports as before when the peers are installed', async () => {
    const results = await Promise.all(cases.map(([, , file]) => importWithout('', file)));
    expect(results.map((r) => r.code)).toEqual(cases.map(() => 0));
  });
});
