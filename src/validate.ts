/**
 * Argument checks shared by every folder: each throws a `TypeError` (or a `RangeError` for a number
 * out of range) of the library's one shape, naming the option and what to pass.
 */
import { describe, isRunnerError } from './errors.js';

/** The longest delay `setTimeout` honours (about 24.8 days); longer ones would fire at once. */
export const MAX_DELAY_MS = 2_147_483_647;

/** @internal Throws a `TypeError` of the library's one shape. */
export function invalid(name: string, expected: string, value: unknown): never {
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${describe(value)}`);
}

/** @internal */
export function checkTimeout(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) invalid(name, 'a number of milliseconds', value);
  if (!(value > 0 && value <= MAX_DELAY_MS)) {
    throw new RangeError(
      `Expected \`${name}\` to be a number of milliseconds from 1 to ${MAX_DELAY_MS} (or undefined for none), got ${describe(value)}`,
    );
  }
  return value;
}

/** @internal */
export function checkFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') invalid(name, 'a function', value);
}

/** An integer of at least `min`, or a RangeError (a number out of range) / TypeError naming `name`. */
function checkInteger(name: string, value: unknown, min: 0 | 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const error = typeof value === 'number' ? RangeError : TypeError;
    throw new error(`Expected \`${name}\` to be a ${min === 1 ? 'positive' : 'non-negative'} integer, got ${describe(value)}`);
  }
  return value;
}

/** @internal A positive integer, or a RangeError/TypeError naming `name`. */
export function checkPositiveInteger(name: string, value: unknown): number {
  return checkInteger(name, value, 1);
}

/** @internal A non-negative integer, or a RangeError/TypeError naming `name`. */
export function checkNonNegativeInteger(name: string, value: unknown): number {
  return checkInteger(name, value, 0);
}

/**
 * @internal
 * A cancel reason: a string or `undefined`. Anything else is refused here, at the API edge, so no
 * caller's value reaches a state machine (where a symbol or a null-prototype object would throw
 * while the message is built).
 */
export function checkReason(value: unknown): string | undefined {
  if (value !== undefined && typeof value !== 'string') invalid('reason', 'a string (or undefined)', value);
  return value;
}

/**
 * @internal
 * Refuses keys of an options object that are not options: a misspelt option (`maxConcurent`,
 * `timeot`) would otherwise be ignored without a word. Throws a `TypeError` naming the key and the
 * closest valid one (or listing them all when none is close).
 *
 * @param where - how the caller passed the options, e.g. `new BackgroundRunner(options)`.
 */
export function checkKnownKeys(where: string, options: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const closest = closestKey(key, known);
    throw new TypeError(
      `Unknown option \`${key}\` in ${where}: ` +
        (closest === undefined ? `expected one of ${[...known].map((k) => `\`${k}\``).join(', ')}` : `did you mean \`${closest}\`?`),
    );
  }
}

/**
 * The known key nearest to `key`, if near enough to be a slip: a few letters off (edit distance,
 * ignoring case), or the start of the name or of one of its camelCase tails (`concurrency` for
 * `maxConcurrentTasks`, `timeot` for `defaultTimeout`).
 */
function closestKey(key: string, known: ReadonlySet<string>): string | undefined {
  const wanted = key.toLowerCase();
  const stem = wanted.slice(0, Math.max(3, Math.ceil(wanted.length / 2)));
  const slip = Math.min(key.length - 1, Math.max(2, Math.floor(key.length / 3)));
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const forms = [candidate.toLowerCase()];
    for (let i = 1; i < candidate.length; i += 1) {
      const c = candidate.charCodeAt(i);
      if (c >= 65 && c <= 90) forms.push(candidate.slice(i).toLowerCase());
    }
    let score = Number.POSITIVE_INFINITY;
    for (const form of forms) {
      const distance = editDistance(wanted, form);
      // A shared stem counts as a slip, ranked after the close spellings.
      score = Math.min(
        score,
        distance <= slip ? distance : wanted.length >= 3 && form.startsWith(stem) ? slip + 1 : Number.POSITIVE_INFINITY,
      );
    }
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/**
 * @internal
 * A name from a fixed set (an event name, say), or a `TypeError` listing the set and, for a near
 * miss, the closest one: ``Expected `event` to be one of `submitted`, …, got `"complete"` (string); did you mean `completed`?``
 */
export function checkOneOf(name: string, value: unknown, known: ReadonlySet<string>): string {
  if (typeof value === 'string' && known.has(value)) return value;
  const closest = typeof value === 'string' ? closestKey(value, known) : undefined;
  const expected = `one of ${[...known].map((k) => `\`${k}\``).join(', ')}`;
  throw new TypeError(
    `Expected \`${name}\` to be ${expected}, got ${describe(value)}${closest === undefined ? '' : `; did you mean \`${closest}\`?`}`,
  );
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.max(a.length, b.length);
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * @internal
 * Runs `read`, which reads the caller's arguments. An error of the library's own shape (or a
 * `RunnerError`) passes through; anything else thrown while reading (a getter, a proxy trap, a
 * revoked proxy) becomes a `TypeError` that says which call's arguments could not be read, with
 * the original as `cause`, instead of escaping as a bare engine error.
 */
export function readingArguments<T>(call: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (
      isRunnerError(error) ||
      ((error instanceof TypeError || error instanceof RangeError) &&
        /^(Expected `|Expected the arguments of |Unknown option `)/.test(error.message))
    ) {
      throw error;
    }
    let message: string;
    try {
      message = error instanceof Error ? error.message : String(error);
    } catch {
      message = 'an unprintable value';
    }
    throw new TypeError(`Expected the arguments of ${call} to be readable values, but reading them threw: ${message}`, { cause: error });
  }
}
