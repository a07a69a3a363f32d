// The compile-time typing of `submit`, `define` and `submitAgent`: what makes a wrong argument, a
// missing context or an unknown task name a type error instead of a surprise at run time. Types
// only; nothing here exists at run time.
import type { AgentLike } from '../actors/run-agent.js';
import type { TaskContext } from '../types.js';
import type { StreamItem, SubmitOptions, TaskResult } from './options.js';

/**
 * Work that takes `TArgs` and then the {@link TaskContext}: `fn(...args, context)`. A function
 * that ignores the context may declare fewer parameters, never more and never an optional or rest
 * parameter where the context lands (it would receive the context, as `greet(name, greeting =
 * 'Hello')` or `Math.max` would).
 *
 * @typeParam TArgs - the `args` option's items, in order.
 * @typeParam TOutput - what the work returns (a value, a promise, or an `AsyncIterable`).
 */
export type WorkFunction<TArgs extends readonly unknown[] = readonly unknown[], TOutput = unknown> = (
  ...args: [...TArgs, TaskContext]
) => TOutput;

/**
 * Fails to compile (through the property's name in the error) when `args` has more items than `F`
 * has parameters: the extra items and the context would be dropped.
 */
export type ArgsCheck<F, TArgs extends readonly unknown[]> = [TArgs] extends [never]
  ? unknown // `args: x as never`: the caller opted out
  : F extends (...params: infer P) => unknown
    ? number extends P['length']
      ? unknown // a rest parameter: the constraint on `F` already checks each item
      : Required<P> extends readonly [...{ [K in keyof TArgs]: unknown }, ...unknown[]]
        ? unknown
        : { readonly 'error: `args` has more items than the function has parameters': never }
    : unknown;

/**
 * Work that streams `TItem`s. Intersected with the work's own type so `TItem` is inferred from the
 * work itself (an inline `async function*` included) before `collect` is checked against it.
 */
export type StreamingWork<TItem> = (...args: never) => AsyncIterable<TItem> | PromiseLike<AsyncIterable<TItem>>;

/** The task result of work `F`: what it resolves to, or for work that streams, see {@link TaskResult}. */
export type WorkResult<F> = F extends (...args: never[]) => infer TOutput ? TaskResult<Awaited<TOutput>> : unknown;

/** The item type of work `F` that streams (`unknown` for work that does not). */
export type WorkChunk<F> = F extends (...args: never[]) => infer TOutput ? StreamItem<Awaited<TOutput>> : unknown;

/**
 * The options of `submit(fn, options)` for work taking `TArgs`. The callbacks' task parameter does
 * not take part in inference, so using it keeps the result type (of `collect`, say) intact.
 */
export type WorkOptions<TArgs extends readonly unknown[], TResult, TChunk> = Omit<
  SubmitOptions<NoInfer<TResult>, NoInfer<TChunk>>,
  'args'
> & {
  /**
   * Arguments for the work, checked against its parameters: it is called as `fn(...args, context)`.
   * @defaultValue []
   */
  args?: TArgs;
};

/** Any work a runner can have under a name: `define(name, handler)`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWork = (...args: any[]) => unknown;

/**
 * The handlers a runner knows by name, as `define()` chains record them. The default, an index
 * signature, means "not known at compile time": any name compiles and results are `unknown`.
 */
export type HandlerMap = Record<string, AnyWork>;

/** Whether `THandlers` is a known registry (built by chained `define()` calls). */
type IsKnown<THandlers> = string extends keyof THandlers ? false : true;

/** The names `submit(name)` accepts with typed arguments and result: the known ones, else none. */
export type KnownHandlerName<THandlers> = IsKnown<THandlers> extends true ? keyof THandlers & string : never;

/**
 * The names `submit<TResult>(name)` accepts with a result type given by hand: any string while the
 * registry is not known, else none (a known registry types names, arguments and results itself).
 */
export type HandlerName<THandlers> = IsKnown<THandlers> extends true ? never : string;

/** The arguments of a named handler before its trailing context. */
type HandlerArgs<H> = H extends (...args: infer P) => unknown ? WithoutContext<P> : unknown[];

/** `P` without a trailing parameter that takes the {@link TaskContext}. */
type WithoutContext<P extends readonly unknown[]> = P extends readonly [...infer TArgs, infer TLast]
  ? TaskContext extends TLast
    ? TArgs
    : P
  : P extends readonly [(infer TOnly)?]
    ? TaskContext extends TOnly
      ? []
      : P
    : P;

/** The options of `submit(name, options)` for a known handler `H`: `args` checked against it. */
type NamedOptions<H> = Omit<SubmitOptions<NoInfer<WorkResult<H>>, NoInfer<WorkChunk<H>>>, 'args'> &
  ([] extends HandlerArgs<H> ? { args?: HandlerArgs<H> } : { args: HandlerArgs<H> });

/** The `options` parameter of `submit(name, options)`: required when the handler takes arguments. */
export type NamedOptionsParam<H> = [] extends HandlerArgs<H> ? [options?: NamedOptions<H>] : [options: NamedOptions<H>];

/** The registry after `define(name, handler)`: the known handlers plus this one. */
export type WithHandler<THandlers, TName extends string, H> = (IsKnown<THandlers> extends true ? THandlers : unknown) & {
  [K in TName]: H;
};

/** What an agent's `start`, else `chat`, else `run` resolves to: the result of `submitAgent(agent, …)`. */
export type AgentResult<TAgent> = TAgent extends { start(...args: never[]): infer R }
  ? TaskResult<Awaited<R>>
  : TAgent extends { chat(...args: never[]): infer R }
    ? TaskResult<Awaited<R>>
    : TAgent extends { run(...args: never[]): infer R }
      ? TaskResult<Awaited<R>>
      : unknown;

/** The item type an agent's method streams, for `onChunk`. */
export type AgentChunk<TAgent> = TAgent extends { start(...args: never[]): infer R }
  ? StreamItem<Awaited<R>>
  : TAgent extends { chat(...args: never[]): infer R }
    ? StreamItem<Awaited<R>>
    : TAgent extends { run(...args: never[]): infer R }
      ? StreamItem<Awaited<R>>
      : unknown;

/** An agent `submitAgent` accepts: one with a `start`, `chat` or `run` method. */
export type SubmittableAgent = AgentLike & ({ start: AnyWork } | { chat: AnyWork } | { run: AnyWork });
