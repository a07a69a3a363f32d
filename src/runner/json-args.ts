/**
 * @internal
 * Checks that a named task's arguments survive a round trip through JSON unchanged, since a store
 * keeps them as JSON and a restarted process re-reads them from there. Throws a `TypeError` naming
 * the argument path and what is wrong, e.g.
 * ``Expected `args[1].when` to be JSON data, got a Date: pass date.toISOString() (and parse it in the handler) instead``.
 *
 * Decisions: a `Date` is rejected rather than silently turned into a string (the handler would get
 * a string where the caller passed a Date); `undefined` is rejected in arrays and as an argument
 * (JSON turns it into `null`) and allowed as an object property (JSON drops the key, and reading
 * it still gives `undefined`); `NaN`/`Infinity`, BigInt, functions, symbols, cycles and instances
 * of classes other than `Object` and `Array` (Map, Set, RegExp, your own classes) are rejected.
 */
export function checkJsonArgs(args: readonly unknown[]): void {
  const ancestors: object[] = [];
  for (let i = 0; i < args.length; i += 1) checkJson(args[i], `args[${i}]`, ancestors, true);
}

/** How deep JSON arguments may nest: far beyond real data, well within the stack. */
const MAX_DEPTH = 1_000;

function reject(path: string, what: string, fix: string): never {
  throw new TypeError(`Expected \`${path}\` to be JSON data (named tasks' arguments are stored as JSON), got ${what}: ${fix}`);
}

function checkJson(value: unknown, path: string, ancestors: object[], inArray: boolean): void {
  const type = typeof value;
  if (type === 'string' || type === 'boolean') return;
  if (type === 'number') {
    if (!Number.isFinite(value)) reject(path, `\`${String(value)}\``, 'JSON turns it into null; pass a finite number, or null');
    return;
  }
  if (type === 'undefined') {
    if (inArray) reject(path, '`undefined`', 'JSON turns it into null in an array; pass null instead');
    return;
  }
  if (type === 'bigint') {
    reject(path, `a BigInt \`${String(value)}n\``, 'JSON cannot hold it; pass it as a string (String(value)) and convert in the handler');
  }
  if (type === 'symbol') reject(path, `a symbol \`${String(value)}\``, 'JSON cannot hold it; pass a string');
  if (type === 'function') {
    const { name } = value as { name?: string };
    reject(
      path,
      `a function${name ? ` \`${name}\`` : ''}`,
      'a named task cannot carry code; define what it does in the handler, or submit a function instead of a name',
    );
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.includes(object))
    reject(path, 'a cyclic reference (an object that contains itself)', 'JSON cannot hold cycles; pass a tree');
  if (ancestors.length >= MAX_DEPTH) {
    const shown = path.length > 60 ? `${path.slice(0, 40)}…` : path;
    reject(
      shown,
      `data nested more than ${MAX_DEPTH} levels deep`,
      'flatten it (or pass it as one JSON string and parse it in the handler)',
    );
  }
  if (object instanceof Date) {
    reject(path, 'a Date', 'pass date.toISOString() (and parse it in the handler) instead, so the handler gets what you meant');
  }
  const proto = Object.getPrototypeOf(object) as object | null;
  const isArray = Array.isArray(object);
  if (!isArray && proto !== Object.prototype && proto !== null) {
    const kind = (proto as { constructor?: { name?: string } }).constructor?.name || 'object with a custom prototype';
    reject(path, `an instance of ${kind}`, 'JSON keeps only plain objects and arrays; convert it to one');
  }
  ancestors.push(object);
  if (isArray) {
    const array = object as unknown[];
    for (let i = 0; i < array.length; i += 1) checkJson(array[i], `${path}[${i}]`, ancestors, true);
  } else {
    for (const key of Object.keys(object)) {
      const child = (object as Record<string, unknown>)[key];
      checkJson(child, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, ancestors, false);
    }
  }
  ancestors.pop();
}
