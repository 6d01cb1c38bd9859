import { setMaxListeners } from 'node:events';
import type { Clock, RandomSource } from './clock.js';
import { show } from './validate.js';

/** What a policy hands to the function it runs. */
export interface ExecuteContext {
  /** Aborted when the caller, or a policy around this call (a timeout), gives up on it. */
  readonly signal: AbortSignal;
  /** 0 for the first attempt; set by `retry` for each retry. */
  readonly attempt: number;
  /** The caller's key for this operation (e.g. `orders:42`), as given to `execute`; used by `fallback`'s stale cache. */
  readonly key: string | undefined;
  /** How much this call matters, as given to `execute`: load shedders and adaptive limits turn away the least important first. */
  readonly priority: Priority;
}

/**
 * How much a call matters, most important first. Under overload, `loadShedder` refuses
 * `background` calls first, then `low`, `normal` and `high`; it never refuses `critical`.
 * Queues (`adaptiveLimit`, `DeferredQueue`) serve higher priorities first.
 */
export type Priority = 'critical' | 'high' | 'normal' | 'low' | 'background';

/** Every {@link Priority}, most important first. */
export const PRIORITIES: readonly Priority[] = Object.freeze([
  'critical',
  'high',
  'normal',
  'low',
  'background',
]);

/** The rank of each priority: 0 for `critical` up to 4 for `background`. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = Object.freeze({
  critical: 0,
  high: 1,
  normal: 2,
  low: 3,
  background: 4,
});

/** Whether `value` is one of the five {@link Priority} names. */
export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && Object.hasOwn(PRIORITY_RANK, value);
}

/** Per-call options of `execute`. */
export interface ExecuteOptions {
  /** The caller's signal: a call aborted before it starts is not run; an abort is never counted as a failure. */
  readonly signal?: AbortSignal;
  /** Names what this call fetches, for policies that keep state per operation (`fallback`'s `staleIfError`). */
  readonly key?: string;
  /**
   * How much this call matters; it travels to every policy of a pipeline as `ctx.priority`.
   * @default 'normal'
   */
  readonly priority?: Priority;
}

/** The function a policy runs. */
export type Operation<T> = (context: ExecuteContext) => PromiseLike<T> | T;

/**
 * Anything that runs a function under some rule: every policy, the circuit breaker and `pipeline`.
 * `Extra` is what the policy may answer instead of the function's result (a fallback's value).
 */
export interface Policy<Extra = never> {
  /**
   * Runs `fn` under this policy's rule and settles as it does, or as the rule decides
   * (rejected without running, retried, timed out, answered by a fallback). Pass
   * `ctx.signal` on to the I/O that `fn` does, so that a timeout or the caller's abort
   * ends it. Always answers a promise: bad arguments reject it rather than throw.
   *
   * @example
   * ```ts
   * const rows = await policy.execute(({ signal }) => db.query(sql, { signal }), { signal: req.signal });
   * ```
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | Extra>;
  /** Type-level only (never set): carries `Extra` so that `pipeline` can add it to its result type. */
  readonly [EXTRA]?: Extra;
}

/** A type-only key: no value exists at run time. */
export declare const EXTRA: unique symbol;

/** What a policy may answer instead of the function's result: `never` for all but fallbacks. */
export type ExtraOf<P> = P extends unknown
  ? typeof EXTRA extends keyof P
    ? Required<P>[typeof EXTRA]
    : never
  : never;

/**
 * The context objects policies pass to each other. `aborted` reads the state of the
 * signal without building it: a timeout builds its call's signal only when someone asks
 * for it, since an AbortSignal costs microseconds to create.
 */
export abstract class Context implements ExecuteContext {
  abstract readonly signal: AbortSignal;
  abstract readonly attempt: number;
  abstract readonly key: string | undefined;
  abstract readonly priority: Priority;

  get aborted(): boolean {
    return this.signal.aborted;
  }

  /** Whether anything can abort this call (false when the caller gave no signal), again without building a signal. */
  get abortable(): boolean {
    return this.signal !== NEVER_ABORTED;
  }

  /**
   * Calls `callback` with the reason once this call aborts, until the returned function
   * is called. Without building a signal, and with one listener per caller's signal
   * however many calls follow it (see {@link followSignal}).
   */
  onAbort(callback: (reason: unknown) => void): () => void {
    return followSignal(this.signal, callback);
  }

  /**
   * @internal What aborts this call: calls with the same source abort together, so a policy
   * may give them one signal. The context itself unless a subclass knows better (a caller's
   * signal).
   */
  get abortSource(): object {
    return this;
  }
}

/**
 * A context whose signal already exists. A policy that changes nothing (the breaker)
 * passes its parent's context on as it is, so a call costs no allocation there.
 */
export class CallContext extends Context {
  constructor(
    readonly signal: AbortSignal,
    readonly attempt: number,
    readonly key: string | undefined,
    readonly priority: Priority = 'normal',
  ) {
    super();
  }

  /** @internal Only the caller's signal aborts this call. */
  override get abortSource(): object {
    return this.signal;
  }
}

/** A retry's context for one attempt: its parent's signal (built only if asked for) and key. */
export class AttemptContext extends Context {
  constructor(
    private readonly parent: Context,
    readonly attempt: number,
  ) {
    super();
  }

  get signal(): AbortSignal {
    return this.parent.signal;
  }

  get key(): string | undefined {
    return this.parent.key;
  }

  get priority(): Priority {
    return this.parent.priority;
  }

  override get aborted(): boolean {
    return this.parent.aborted;
  }

  override get abortable(): boolean {
    return this.parent.abortable;
  }

  override onAbort(callback: (reason: unknown) => void): () => void {
    return this.parent.onAbort(callback);
  }

  /** @internal An attempt aborts as its parent call does. */
  override get abortSource(): object {
    return this.parent.abortSource;
  }
}

/**
 * A context that a policy aborts itself: a hedge's losing attempt, a coalesced call whose
 * callers all left. Its signal is built only if read (already aborted if the call was), and
 * allows any number of listeners, since every function sharing the call may listen on it.
 */
export abstract class OwnAbortContext extends Context {
  private controller: AbortController | undefined = undefined;
  private followers: Set<(reason: unknown) => void> | undefined = undefined;
  private isAborted = false;
  private reason: unknown = undefined;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      setMaxListeners(0, this.controller.signal);
      if (this.isAborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  override get aborted(): boolean {
    return this.isAborted;
  }

  override get abortable(): boolean {
    return true;
  }

  override onAbort(callback: (reason: unknown) => void): () => void {
    if (this.followers === undefined) this.followers = new Set();
    const followers = this.followers;
    followers.add(callback);
    return () => {
      followers.delete(callback);
    };
  }

  /** Aborts the signal (if built) and tells every follower, once. */
  protected abortWith(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    if (this.followers !== undefined) for (const follower of this.followers) follower(reason);
  }
}

/**
 * The signal of a call whose caller gave none. Nothing can abort it, so one instance
 * serves every such call; it allows any number of listeners so that concurrent calls
 * whose functions listen on it never trigger `MaxListenersExceededWarning`.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;
setMaxListeners(0, NEVER_ABORTED);

/** The context of every call whose caller gave no options. */
export const ROOT: Context = new CallContext(NEVER_ABORTED, 0, undefined);

/**
 * The context for a call, reusing the parent's when a policy passed one in. Throws a
 * TypeError for options that are not an object or a signal that is not an AbortSignal:
 * callers that must not throw synchronously use {@link tryContextOf}.
 */
export function contextOf(options: ExecuteOptions | undefined): Context {
  if (options === undefined) return ROOT;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`execute options must be an object, got ${show(options)}`);
  }
  // One try for every read of a value from outside (a getter or a Proxy may throw), and no
  // closure: a pipeline's every layer passes through here. Each option is read once, so a
  // getter cannot answer one value to the check and another to the call.
  let reading = 'execute options';
  let signal: unknown;
  let key: unknown;
  let priority: unknown;
  let isSignal: boolean;
  try {
    if (options instanceof Context) return options;
    reading = 'execute options.signal';
    signal = options.signal;
    reading = 'execute options.key';
    key = options.key;
    reading = 'execute options.priority';
    priority = options.priority;
    reading = 'signal';
    isSignal = signal === undefined || signal instanceof AbortSignal;
  } catch (error) {
    throw new TypeError(`${reading} could not be read`, { cause: error });
  }
  if (!isSignal) throw new TypeError(`signal must be an AbortSignal, got ${show(signal)}`);
  if (key !== undefined && typeof key !== 'string') {
    throw new TypeError(`key must be a string, got ${show(key)}`);
  }
  if (priority !== undefined && !isPriority(priority)) {
    throw new TypeError(`priority must be one of ${PRIORITIES.join(', ')}, got ${show(priority)}`);
  }
  if (signal === undefined && key === undefined && (priority === undefined || priority === 'normal'))
    return ROOT;
  return new CallContext(
    (signal as AbortSignal | undefined) ?? NEVER_ABORTED,
    0,
    key as string | undefined,
    (priority as Priority | undefined) ?? 'normal',
  );
}

/** The clock and random source a `pipeline` hands to the policies that were given none of their own. */
export interface PolicyDefaults {
  /** Times what policies given no clock wait on or measure: timeouts, retry delays, durations. */
  readonly clock?: Clock;
  /** Feeds the random choices of policies given no random source: retry jitter, chaos injection. */
  readonly random?: RandomSource;
}

/** How `pipeline` hands its defaults to a policy; policies that use a clock or randomness implement it. */
export const ADOPT_DEFAULTS: unique symbol = Symbol('breakwater.adoptDefaults');

/**
 * A policy that takes a pipeline's {@link PolicyDefaults}. Plumbing between breakwater's own
 * policies: its member is internal, so the published types carry the interface empty.
 */
export interface AdoptsDefaults {
  /** @internal Fills in what the policy was not given; the first pipeline to hand a default wins. */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void;
}

export function adoptsDefaults(policy: object): policy is AdoptsDefaults {
  return typeof (policy as Partial<AdoptsDefaults>)[ADOPT_DEFAULTS] === 'function';
}

/** The context for a call, or the TypeError that bad options raise, for `execute`s that must not throw. */
export function tryContextOf(options: ExecuteOptions | undefined): Context | TypeError {
  try {
    return contextOf(options);
  } catch (error) {
    return error instanceof TypeError
      ? error
      : new TypeError('execute options could not be read', { cause: error });
  }
}

interface Followers {
  readonly listener: () => void;
  readonly callbacks: Set<(reason: unknown) => void>;
}

const followed = new WeakMap<AbortSignal, Followers>();

/**
 * Calls `callback` once `signal` aborts, until the returned function is called. All the
 * calls that follow one signal share one listener on it: a caller who passes one
 * shutdown signal to many concurrent calls gets no `MaxListenersExceededWarning`, and
 * the listener is removed with the last follower.
 */
export function followSignal(signal: AbortSignal, callback: (reason: unknown) => void): () => void {
  if (signal === NEVER_ABORTED) return noop;
  let entry = followed.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<(reason: unknown) => void>();
    const listener = () => {
      followed.delete(signal);
      for (const follower of callbacks) follower(signal.reason);
    };
    entry = { listener, callbacks };
    followed.set(signal, entry);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { callbacks, listener } = entry;
  callbacks.add(callback);
  return () => {
    if (!callbacks.delete(callback) || callbacks.size !== 0) return;
    if (followed.get(signal) === entry) followed.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

function noop(): void {}

/**
 * The rejection of an `execute` given something other than a function. Every policy
 * checks before anything else, so the outermost one rejects at once and no policy
 * counts, retries or falls back from it.
 */
export function notAFunction(fn: unknown): TypeError {
  return new TypeError(`execute: fn must be a function, got ${show(fn)}`);
}

/**
 * Runs `fn` and answers its result as a promise, with no extra promise for a native one;
 * a synchronous throw (or a result whose `constructor` getter throws) becomes a rejection,
 * so `execute` never throws.
 */
export function callThrough<T>(fn: Operation<T>, context: ExecuteContext): Promise<T> {
  try {
    return Promise.resolve(fn(context));
  } catch (error) {
    return Promise.reject(error);
  }
}
