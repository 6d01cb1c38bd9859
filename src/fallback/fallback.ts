import { type Clock, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  contextOf,
  type EXTRA,
  type ExecuteContext,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
} from '../policy.js';
import * as v from '../validate.js';

/** What a fallback returns: a value, or a function of the error and the call's context. */
export type FallbackValue<R> = R | ((error: unknown, context: ExecuteContext) => R | PromiseLike<R>);

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /**
   * Which errors fall back; others reach the caller unchanged. A call whose caller
   * aborted it never falls back.
   * @default () => true
   */
  shouldFallback?: (error: unknown) => boolean;
  /**
   * Serve the last good result for the same key when a call fails, if it is at most
   * `maxAge` ms old; the fallback value applies only when there is none. Memory is
   * bounded: the least recently used of more than `maxEntries` keys is dropped.
   * @example
   * ```ts
   * staleIfError: { key: (ctx) => ctx.key ?? 'all', maxAge: 60_000, maxEntries: 1_000 }
   * ```
   */
  staleIfError?: StaleIfErrorOptions;
  /** Names the policy in metrics. @default 'fallback' */
  name?: string;
  /** Times the entries of `staleIfError`. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Options of {@link FallbackOptions.staleIfError}: serving the last good result when a call fails. */
export interface StaleIfErrorOptions {
  /**
   * Which calls may stand in for each other: a failed call is served the last good result
   * stored under its key. Without `execute`'s `key` option, every call shares the key `''`.
   * @default (ctx) => ctx.key ?? ''
   */
  key?: (context: ExecuteContext) => string;
  /** How old (ms) a result may be and still be served: a number >= 0, or `Infinity` for any age. */
  maxAge: number;
  /** An integer >= 1 (`Infinity` is refused: the cache would grow with every key ever seen). @default 1_000 */
  maxEntries?: number;
}

/** Payload of the {@link FallbackEvents.fellBack | fellBack} event. */
export interface FellBackEvent {
  /** The error that the fallback replaced. */
  readonly error: unknown;
  /** Whether a stale result was served (from `staleIfError`) rather than the fallback value. */
  readonly stale: boolean;
}

/** The events of a {@link FallbackPolicy}, each with one payload object. */
export interface FallbackEvents {
  /**
   * A call failed with an error that `shouldFallback` accepted, and the policy answered
   * instead: fired before a stale result is returned or a fallback function is called.
   * A call whose caller aborted it never falls back, so never fires this.
   */
  fellBack: [FellBackEvent];
}

interface Entry {
  value: unknown;
  at: number;
}

/** Answers with a substitute when a call fails. See {@link fallback}. */
export class FallbackPolicy<R = unknown>
  extends Emitter<FallbackEvents>
  implements Policy<R>, AdoptsDefaults
{
  declare readonly [EXTRA]?: R;
  /** Names the policy in metrics. */
  readonly name: string;
  private readonly value: FallbackValue<R>;
  private readonly shouldFallback: ((error: unknown) => boolean) | undefined;
  private readonly stale: Required<StaleIfErrorOptions> | undefined;
  /** Insertion order is recency order: a hit is deleted and set again. */
  private readonly cache = new Map<string, Entry>();
  private clock: Clock | undefined;

  constructor(value: FallbackValue<R>, options?: FallbackOptions) {
    super();
    const o = options === undefined ? {} : v.object('fallback options', options);
    v.knownKeys('fallback', o, ['name', 'shouldFallback', 'staleIfError', 'clock']);
    this.name = o.name === undefined ? 'fallback' : v.string('name', o.name);
    this.value = value;
    this.shouldFallback =
      o.shouldFallback === undefined ? undefined : v.func('shouldFallback', o.shouldFallback);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
    if (o.staleIfError !== undefined) {
      const s = v.object('staleIfError', o.staleIfError);
      v.knownKeys('staleIfError', s, ['key', 'maxAge', 'maxEntries']);
      this.stale = {
        key: s.key === undefined ? (ctx) => ctx.key ?? '' : v.func('staleIfError.key', s.key),
        maxAge: maxAge(s.maxAge),
        // No Infinity here: unlike a queue, which holds only calls in flight, the cache outlives its calls.
        maxEntries:
          s.maxEntries === undefined ? 1_000 : v.integer('staleIfError.maxEntries', s.maxEntries, 1),
      };
    }
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'fallback' {
    return 'fallback';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
  }

  /** Results kept for `staleIfError`. */
  get cachedEntries(): number {
    return this.cache.size;
  }

  /**
   * Runs `fn` and answers its result; when it fails with an error that `shouldFallback`
   * accepts, answers the last good result for the call's key (with `staleIfError`) or the
   * fallback value instead. With `staleIfError`, every success is stored under its key.
   *
   * @throws what `fn` threw, unchanged, when `shouldFallback` refuses it or the caller aborted the call.
   * @throws what a fallback function threw.
   */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | R> {
    if (typeof fn !== 'function') throw notAFunction(fn);
    const context = contextOf(options);
    if (context.aborted) throw context.signal.reason;
    let result: T;
    try {
      result = await fn(context);
    } catch (error) {
      if (context.aborted || (this.shouldFallback !== undefined && !this.shouldFallback(error))) throw error;
      return this.substitute(error, context);
    }
    if (this.stale !== undefined) this.remember(this.stale.key(context), result);
    return result;
  }

  private async substitute(error: unknown, context: ExecuteContext): Promise<R> {
    if (this.stale !== undefined) {
      const key = this.stale.key(context);
      const entry = this.cache.get(key);
      if (entry !== undefined) {
        if (this.now() - entry.at <= this.stale.maxAge) {
          this.cache.delete(key);
          this.cache.set(key, entry);
          if (this.listenerCount('fellBack') !== 0) this.emit('fellBack', { error, stale: true });
          return entry.value as R;
        }
        this.cache.delete(key);
      }
    }
    if (this.listenerCount('fellBack') !== 0) this.emit('fellBack', { error, stale: false });
    const value = this.value;
    return typeof value === 'function'
      ? (value as (error: unknown, context: ExecuteContext) => R | PromiseLike<R>)(error, context)
      : value;
  }

  private remember(key: string, value: unknown): void {
    const cache = this.cache;
    cache.delete(key);
    cache.set(key, { value, at: this.now() });
    if (cache.size > this.stale!.maxEntries) cache.delete(cache.keys().next().value!);
  }

  private now(): number {
    return (this.clock ?? systemClock).now();
  }
}

/**
 * Answers with a substitute when a call fails: a value, or a function of the error and
 * the context (which may itself throw, e.g. to wrap the error). With `staleIfError`, the
 * last good result for the same key comes first.
 *
 * @example
 * ```ts
 * const policy = fallback((error, ctx) => cachedOrders, { shouldFallback: (e) => !(e instanceof AuthError) });
 * ```
 */
export function fallback<R>(value: FallbackValue<R>, options?: FallbackOptions): FallbackPolicy<R> {
  return new FallbackPolicy(value, options);
}

/** `staleIfError.maxAge`: no timer waits on it, so any number of ms >= 0, or `Infinity` for any age. */
function maxAge(value: unknown): number {
  const expected = 'staleIfError.maxAge must be a number of ms >= 0 or Infinity';
  if (typeof value !== 'number') throw new TypeError(`${expected}, got ${v.show(value)}`);
  if (!(value >= 0)) throw new RangeError(`${expected}, got ${v.show(value)}`);
  return value;
}
