// The package as a user gets it: `npm pack`, the tarball installed into a scratch project, and a
// consumer compiled against it with `strict` and `skipLibCheck: false` — the README's TypeScript
// blocks and the type tests in consumer/types.ts. This runs outside vitest's module graph (child
// processes only), so it sees the published `.d.ts` files, `exports` map and `files` list, not `src/`.
// Issue #11 ("The published types are broken").
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asModule, readmeBlocks } from './readme-blocks.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const here = join(root, 'test/package');

// Packages the consumer borrows from this repository instead of installing: the compiler's view of
// Node, the optional peers the README imports, and vitest for `expectTypeOf`.
const borrowed = [
  '@types/node',
  '@types/better-sqlite3',
  '@types/react',
  '@langchain/core',
  '@opentelemetry/api',
  '@statelyai/inspect',
  '@xstate/react',
  'ai',
  'better-sqlite3',
  'bullmq',
  'ioredis',
  'piscina',
  'praisonai',
  'react',
  'vitest',
  'zod',
];

/** Every name `src/index.ts` exports, values and types. */
function publicNames(): string[] {
  const index = readFileSync(join(root, 'src/index.ts'), 'utf8');
  const names = new Set<string>();
  for (const match of index.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of (match[1] ?? '').split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.add(name);
    }
  }
  return [...names];
}

let dir = '';
let consumer = '';
let tarball = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tasklane-pack-'));
  // `npm pack` runs `prepare`, so the tarball holds a fresh build.
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[];
  tarball = join(dir, info!.filename);

  consumer = join(dir, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: consumer });

  for (const name of borrowed) {
    const target = join(consumer, 'node_modules', name);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), target, 'dir');
  }
  cpSync(join(here, 'consumer'), consumer, { recursive: true });
  const names = publicNames();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const block of readmeBlocks(readme)) {
    writeFileSync(join(consumer, `readme-${String(block.line).padStart(4, '0')}.${block.lang}`), asModule(block, names));
  }
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('compiles the README blocks and the type tests with strict and skipLibCheck: false', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const output = await run(process.execPath, [tsc, '-p', consumer], { cwd: consumer }).then(
      () => '',
      (error: Error & { stdout?: string }) => error.stdout ?? error.message,
    );
    // Errors inside other packages' declarations (the AI SDK and the inspector expect the DOM
    // library, which a Node project does not load) are theirs; ours are in the consumer's files and
    // in tasklane's own `.d.ts` files.
    const ours = output
      .split('\n')
      .filter((line) => line !== '' && (!line.startsWith('../') || line.includes('node_modules/tasklane/')) && !/^\s/.test(line));
    expect(ours).toEqual([]);
  }, 300_000);

  it('ships the built entry points and the sources its maps point to, and no tests', async () => {
    const listing = await run('tar', ['-tzf', tarball]);
    const files = listing.stdout.split('\n').filter(Boolean);
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/src/index.ts');
    expect(files).toContain('package/LICENSE');
    expect(files.filter((file) => file.includes('test'))).toEqual([]);
  });

  it('loads in plain Node from the installed tarball, and its bin answers --help', async () => {
    const loaded = await run(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('tasklane'); console.log(typeof m.BackgroundRunner);"],
      { cwd: consumer },
    );
    expect(loaded.stdout.trim()).toBe('function');
    const help = await run(join(consumer, 'node_modules/.bin/tasklane'), ['--help'], { cwd: consumer });
    expect(help.stdout).toMatch(/tasklane/);
  });
});
