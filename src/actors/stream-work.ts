/**
 * Helpers for work that streams, shared by the SDK adapters. Nothing here is exported from the
 * core entry point.
 */

/**
 * @internal
 * A property a stream carries when its result is what its generator returns, so the runner need
 * not keep its items (an adapter's chunks may each hold all the text so far). A submit with a
 * `collect` option still keeps them.
 */
export const STREAM_RETURNS_RESULT: unique symbol = Symbol.for('tasklane.streamReturnsResult');

/** @internal Marks `stream` with {@link STREAM_RETURNS_RESULT} and returns it. */
export function markReturnsResult<T extends AsyncIterable<unknown>>(stream: T): T {
  (stream as { [STREAM_RETURNS_RESULT]?: boolean })[STREAM_RETURNS_RESULT] = true;
  return stream;
}

/**
 * @internal
 * Turns a callback-style call into a stream: `start(push)` runs the call, `push(item)` hands over
 * each item as it comes, and what `start` resolves to is the generator's return value. An abort
 * of `signal` rejects the pending wait with the signal's reason, so the task need not wait for a
 * call that cannot be cancelled; the call's late outcome is then ignored.
 */
export async function* pushStream<TItem, TResult>(
  signal: AbortSignal,
  start: (push: (item: TItem) => void) => PromiseLike<TResult>,
): AsyncGenerator<TItem, TResult> {
  signal.throwIfAborted();
  const items: TItem[] = [];
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  let outcome: { ok: true; value: TResult } | { ok: false; error: unknown } | undefined;
  Promise.resolve(
    start((item) => {
      items.push(item);
      notify();
    }),
  ).then(
    (value) => {
      outcome = { ok: true, value };
      notify();
    },
    (error: unknown) => {
      outcome = { ok: false, error };
      notify();
    },
  );
  signal.addEventListener('abort', notify, { once: true });
  try {
    for (;;) {
      signal.throwIfAborted();
      if (items.length > 0) {
        // Hand over what has arrived, oldest first; splice keeps this O(n) for a burst.
        for (const item of items.splice(0)) yield item;
        continue;
      }
      if (outcome) {
        if (outcome.ok) return outcome.value;
        throw outcome.error;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal.removeEventListener('abort', notify);
  }
}

/**
 * @internal
 * A signal that aborts when `signal` or `other` does (with its reason): `AbortSignal.any` where
 * Node has it (20.3+), a listener otherwise.
 */
export function eitherSignal(signal: AbortSignal, other: AbortSignal | undefined): AbortSignal {
  if (!other || other === signal) return signal;
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([signal, other]);
  const controller = new AbortController();
  const abort = (source: AbortSignal) => () => controller.abort(source.reason);
  for (const source of [signal, other]) {
    if (source.aborted) controller.abort(source.reason);
    else source.addEventListener('abort', abort(source), { once: true });
  }
  return controller.signal;
}
