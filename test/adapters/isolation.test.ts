import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const recorder = fileURLToPath(new URL('../fixtures/record-imports.mjs', import.meta.url));
const SDKS = [
  '/node_modules/ai/',
  '/node_modules/@langchain/',
  '/node_modules/praisonai/',
  '/node_modules/@ai-sdk/',
  '/node_modules/openai/',
];

/** The URLs a fresh Node process resolves while importing `entry` (a path from the repo root). */
async function loadedBy(entry: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tasklane-imports-'));
  const log = join(dir, 'imports.log');
  try {
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--import', recorder, '--input-type=module', '-e', `await import(${JSON.stringify(`./${entry}`)});`],
      { cwd: root, env: { ...process.env, TASKLANE_IMPORT_LOG: log, OPENAI_API_KEY: 'unused' } },
    );
    return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('optional integrations', () => {
  it('are not loaded by the core entry point', async () => {
    const urls = await loadedBy('src/index.ts');
    expect(urls.some((url) => url.endsWith('/src/index.ts'))).toBe(true);
    expect(urls.some((url) => url.includes('/node_modules/xstate/'))).toBe(true);
    expect(urls.filter((url) => SDKS.some((sdk) => url.includes(sdk)))).toEqual([]);
    expect(urls.filter((url) => /\/src\/(ai|langchain|praisonai)\.ts$/.test(url))).toEqual([]);
  });

  it.each([
    ['src/adapters/ai.ts', '/node_modules/ai/'],
    ['src/adapters/langchain.ts', '/node_modules/@langchain/core/'],
  ])('are loaded by their own entry point (%s loads %s)', async (entry, sdk) => {
    const urls = await loadedBy(entry);
    expect(urls.some((url) => url.includes(sdk))).toBe(true);
  });

  it('leaves praisonai unloaded even from tasklane/praisonai (it needs OPENAI_API_KEY at import)', async () => {
    const urls = await loadedBy('src/adapters/praisonai.ts');
    expect(urls.some((url) => url.endsWith('/src/adapters/praisonai.ts'))).toBe(true);
    expect(urls.filter((url) => url.includes('/node_modules/praisonai/'))).toEqual([]);
  });
});
