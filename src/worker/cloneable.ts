import { types } from 'node:util';

/**
 * @internal
 * Finds the first part of `value` that a structured clone (`postMessage` to a worker thread)
 * cannot copy, and says where it is and what it is: `` `args[1].onDone` is a function ``.
 * Returns `undefined` when the value can cross.
 *
 * It walks the value without copying it: binary data (ArrayBuffers, typed arrays, Buffers) is not
 * read, so checking a large buffer costs nothing. It catches what users actually pass by mistake
 * (functions, symbols, promises, weak collections, proxies, generators, native handles); anything
 * rarer it misses still fails the task with the clone error when the task starts.
 */
export function findUncloneable(value: unknown, path: string): string | undefined {
  return walk(value, path, new Set(), 0);
}

/** How deep a value may nest: far beyond real data, well within the stack (and the cloner's). */
const MAX_DEPTH = 1_000;

function walk(value: unknown, path: string, seen: Set<object>, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `\`${path.length > 60 ? `${path.slice(0, 40)}…` : path}\` is nested more than ${MAX_DEPTH} levels deep`;
  switch (typeof value) {
    case 'function':
      return `\`${path}\` is a function${value.name ? ` (${value.name})` : ''}`;
    case 'symbol':
      return `\`${path}\` is a symbol (${value.toString()})`;
    case 'object':
      break;
    default:
      return undefined; // string, number, bigint, boolean, undefined
  }
  if (value === null || seen.has(value)) return undefined;
  seen.add(value);
  const kind = uncloneableKind(value);
  if (kind) return `\`${path}\` is ${kind}`;
  if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value) || value instanceof Date || value instanceof RegExp) {
    return undefined;
  }
  if (types.isBoxedPrimitive(value)) return undefined;
  if (value instanceof Map) {
    let index = 0;
    for (const [key, entry] of value) {
      const problem = walk(key, `${path}.keys()[${index}]`, seen, depth + 1) ?? walk(entry, `${path}.get(${label(key)})`, seen, depth + 1);
      if (problem) return problem;
      index += 1;
    }
    return undefined;
  }
  if (value instanceof Set) {
    let index = 0;
    for (const entry of value) {
      const problem = walk(entry, `${path}.values()[${index}]`, seen, depth + 1);
      if (problem) return problem;
      index += 1;
    }
    return undefined;
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const problem = walk(value[index], `${path}[${index}]`, seen, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  // Plain objects, class instances (cloned as plain objects: their methods stay behind) and errors.
  for (const key of Object.keys(value)) {
    const problem = walk((value as Record<string, unknown>)[key], `${path}${property(key)}`, seen, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

function uncloneableKind(value: object): string | undefined {
  if (types.isProxy(value)) return 'a Proxy';
  if (types.isPromise(value)) return 'a Promise (await it first and pass the value)';
  if (types.isWeakMap(value)) return 'a WeakMap';
  if (types.isWeakSet(value)) return 'a WeakSet';
  if (value instanceof WeakRef) return 'a WeakRef';
  if (types.isGeneratorObject(value)) return 'a generator';
  if (types.isModuleNamespaceObject(value)) return 'a module namespace object';
  if (types.isExternal(value)) return 'a native handle';
  return undefined;
}

function property(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function label(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : typeof key === 'number' || typeof key === 'boolean' ? String(key) : '…';
}
