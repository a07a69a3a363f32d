/**
 * Argument checks shared by every folder: each throws a `TypeError` (or a `RangeError` for a number
 * out of range) of the library's one shape, naming the option and what to pass.
 */
import { describe } from './errors.js';

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
