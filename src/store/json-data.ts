/**
 * What a store does with a value JSON cannot keep: it finds the first part JSON would lose (a
 * BigInt, a cycle, a Map that would become `{}`…), names its path, and stores a marker in its
 * place instead of a silent `null` or `{}`.
 */

/** The value a store keeps in place of a result or metadata that is not JSON data. */
export interface NotJsonMarker {
  /** Always `'not-json'`: tells the marker apart from a result that happens to look like one. */
  readonly $tasklane: 'not-json';
  /** Where the first part JSON cannot keep is, e.g. `result.totals[2]`. */
  readonly path: string;
  /** What it is, e.g. `a BigInt` or `a Map (JSON would store {})`. */
  readonly found: string;
}

/** Where `value` stops being JSON data, or `undefined` when `JSON.stringify` keeps it whole. */
export interface NotJson {
  readonly path: string;
  readonly found: string;
}

/** Deeper than this is reported rather than walked (and JSON.stringify would overflow the stack). */
const MAX_DEPTH = 1_000;

/** Built-ins that `JSON.stringify` turns into `{}` without a word. */
const LOST_AS_EMPTY_OBJECT: readonly (abstract new (...args: never[]) => object)[] = [Map, Set, WeakMap, WeakSet, Promise, RegExp, Error];

/**
 * @internal
 * Finds the first part of `value` that JSON cannot keep: BigInt, symbol, function, a non-finite
 * number, a cycle, a Map/Set/WeakMap/WeakSet/Promise/RegExp/Error, or nesting deeper than 1,000.
 * `undefined` is allowed (JSON stores `null`, or drops the key: the value still reads as absent),
 * and so is any object with a `toJSON` method (a Date: its author chose its JSON form).
 */
export function findNotJson(value: unknown, path: string): NotJson | undefined {
  return walk(value, path, [], 0);
}

/** @internal The marker stored for `problem`. */
export function notJsonMarker(problem: NotJson): NotJsonMarker {
  return { $tasklane: 'not-json', path: problem.path, found: problem.found };
}

function walk(value: unknown, path: string, ancestors: object[], depth: number): NotJson | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path, found: `\`${String(value)}\` (JSON would store null)` };
    case 'bigint':
      return { path, found: 'a BigInt' };
    case 'symbol':
      return { path, found: 'a symbol' };
    case 'function':
      return { path, found: 'a function' };
    default:
      break;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return undefined;
  if (ancestors.includes(object)) return { path, found: 'a cycle (an object that contains itself)' };
  if (depth >= MAX_DEPTH) return { path, found: `nesting deeper than ${MAX_DEPTH} levels` };
  for (const type of LOST_AS_EMPTY_OBJECT) {
    if (object instanceof type) return { path, found: `a ${type.name} (JSON would store {})` };
  }
  ancestors.push(object);
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i += 1) {
        const found = walk(object[i], `${path}[${i}]`, ancestors, depth + 1);
        if (found) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(object)) {
      const child = (object as Record<string, unknown>)[key];
      const found = walk(
        child,
        /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`,
        ancestors,
        depth + 1,
      );
      if (found) return found;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}
