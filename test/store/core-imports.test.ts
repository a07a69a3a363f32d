import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '..', '..', 'src');

/** Every module specifier the file at `entry` reaches through static and dynamic imports. */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    // Import and export statements at the start of a line, and dynamic import() calls.
    for (const [, a, b] of text.matchAll(/^(?:import|export)\b[^;]*?from\s+'([^']+)'|\bimport\('([^']+)'\)/gms)) {
      const spec = a ?? b;
      if (spec!.startsWith('.')) visit(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
      else packages.add(spec!);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('the core entry point', () => {
  it('never imports better-sqlite3 or the SQLite store, directly or indirectly', () => {
    const { files, packages } = reachable(join(src, 'index.ts'));
    expect([...packages].filter((p) => !p.startsWith('node:')).sort()).toEqual(['eventemitter3', 'xstate', '@xstate/store'].sort());
    expect(files.has(join(src, 'store', 'sqlite', 'sqlite-store.ts'))).toBe(false);
  });

  it('is what tasklane/sqlite adds better-sqlite3 to', () => {
    expect(reachable(join(src, 'store', 'sqlite', 'sqlite-store.ts')).packages.has('better-sqlite3')).toBe(true);
  });
});
