/**
 * Turns the README's TypeScript blocks into modules a consumer project can compile: each block
 * becomes its own file, gets `import { … } from 'tasklane'` for the public names it uses without
 * importing them, and `export {}` so its top-level names stay its own. Free names a fragment
 * leaves to the reader (`runner`, `summarise`…) come from `readme-globals.d.ts`.
 */

/** One fenced block: where it starts in the README, its language and its code. */
export interface ReadmeBlock {
  readonly line: number;
  readonly lang: 'ts' | 'tsx';
  readonly code: string;
}

/** Every ```ts and ```tsx block, in order. A block whose first line is `// not compiled` is left out. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const blocks: ReadmeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^```(ts|tsx)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end += 1;
    const code = lines.slice(start, end).join('\n');
    if (!code.startsWith('// not compiled')) blocks.push({ line: start, lang: open[1] as 'ts' | 'tsx', code });
    i = end;
  }
  return blocks;
}

/** The block as a module: adds the imports of public names it uses but neither imports nor declares. */
export function asModule(block: ReadmeBlock, publicNames: readonly string[]): string {
  const imported = new Set<string>();
  for (const match of block.code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from/g)) {
    for (const part of (match[1] ?? '').split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop()
        ?.replace(/^type\s+/, '');
      if (name) imported.add(name);
    }
  }
  const declared = (name: string) => new RegExp(`\\b(?:const|let|var|function\\*?|class|type|interface)\\s+${name}\\b`).test(block.code);
  const missing = publicNames.filter((name) => !imported.has(name) && !declared(name) && new RegExp(`\\b${name}\\b`).test(block.code));
  const header = missing.length > 0 ? `import { ${missing.join(', ')} } from 'tasklane';\n` : '';
  return `// README.md line ${block.line}\n${header}${block.code}\nexport {};\n`;
}
