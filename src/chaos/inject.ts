import { type Clock, type RandomSource, systemClock } from '../clock.js';
import { delay } from '../delay.js';
import { Emitter } from '../emitter.js';
import { InjectedFaultError } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  type Context,
  callThrough,
  type EXTRA,
  type ExecuteContext,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';

/** Options shared by every injection policy. */
export interface ChaosOptions {
  /**
   * Share of calls to inject into, in `[0, 1]`, or a function of the call's context.
   * @example
   * ```ts
   * rate: (ctx) => (ctx.key?.startsWith('orders:') ? 0.1 : 0)
   * ```
   */
  rate: number | ((context: ExecuteContext) => number);
  /**
   * Whether injection is on, read on every call, so a flag or an environment variable
   * can switch chaos at run time without rebuilding the pipeline.
   * @default true
   * @example
   * ```ts
   * enabled: () => process.env.CHAOS === 'on'
   * ```
   */
  enabled?: boolean | ((context: ExecuteContext) => boolean);
  /** Names the policy in metrics. @default 'chaos' */
  name?: string;
  /** Decides which calls are injected; seed it to replay a chaos run. @default Math.random, or the pipeline's */
  random?: RandomSource;
  /** Times injected latency. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link ChaosEvents.injected | injected} event: what was injected, by `kind`. */
export type InjectedEvent =
  | {
      /** An error was thrown without calling through ({@link injectFault}). */
      readonly kind: 'fault';
      /** The error the call rejects with. */
      readonly error: unknown;
    }
  | {
      /** The call is delayed before calling through ({@link injectLatency}). */
      readonly kind: 'latency';
      /** The delay (ms). */
      readonly latency: number;
    }
  | {
      /** The call was answered without calling through ({@link injectOutcome}). */
      readonly kind: 'outcome';
      /** The made-up result the call resolves with. */
      readonly outcome: unknown;
    }
  | {
      /** The user's behaviour runs before calling through ({@link injectBehavior}). */
      readonly kind: 'behavior';
    };

/** The events of a {@link ChaosPolicy}, each with one payload object. */
export interface ChaosEvents {
  /**
   * A call was chosen and something injected into it: fired before the fault is thrown,
   * the delay begins or the behaviour runs; for an outcome, once the made-up result is
   * ready, just before the call resolves with it.
   */
  injected: [InjectedEvent];
}

const BASE_KEYS = ['name', 'rate', 'enabled', 'random', 'clock'];

/**
 * The part every injection policy shares: deciding, per call, whether to inject.
 * A disabled or zero-rate policy costs one check and passes the function's own promise through.
 */
export abstract class ChaosPolicy<Extra = never>
  extends Emitter<ChaosEvents>
  implements Policy<Extra>, AdoptsDefaults
{
  declare readonly [EXTRA]?: Extra;
  /** Names the policy in metrics. */
  readonly name: string;
  private readonly rate: number | ((context: ExecuteContext) => number);
  private readonly enabled: boolean | ((context: ExecuteContext) => boolean);
  /** For subclasses: the options' random source or the pipeline's; `undefined` means `Math.random`. */
  protected random: RandomSource | undefined;
  /** For subclasses: the options' clock or the pipeline's; `undefined` means {@link systemClock}. */
  protected clock: Clock | undefined;

  constructor(what: string, options: ChaosOptions, keys: readonly string[]) {
    super();
    v.knownKeys(what, v.object(`${what} options`, options), [...BASE_KEYS, ...keys]);
    this.name = options.name === undefined ? 'chaos' : v.string('name', options.name);
    this.rate = typeof options.rate === 'function' ? options.rate : v.ratio('rate', options.rate);
    // `=== undefined`, not `??`: a null is a mistake to report, not a request for the default.
    const enabled = options.enabled === undefined ? true : options.enabled;
    if (typeof enabled !== 'boolean' && typeof enabled !== 'function') {
      throw new TypeError(`enabled must be a boolean or a function, got ${v.show(enabled)}`);
    }
    this.enabled = enabled;
    this.random = options.random === undefined ? undefined : v.random('random', options.random);
    this.clock = options.clock === undefined ? undefined : v.clock('clock', options.clock);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'chaos' {
    return 'chaos';
  }

  /** @internal */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    this.clock ??= defaults.clock;
    this.random ??= defaults.random;
  }

  /**
   * Calls `fn` straight through, unless this call is chosen (`enabled`, then drawn at
   * `rate`): then injects into it. Never throws synchronously: a `rate`, `enabled` or
   * factory that throws rejects the call. A call whose signal is already aborted is
   * rejected with its reason, neither run nor injected into.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | Extra> {
    // Before anything else, so that no rate is asked, no random number drawn and nothing injected.
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    // Like every policy: a call whose signal is already aborted is not run, nor injected into.
    if (context.aborted) return Promise.reject(context.signal.reason);
    // A throwing `rate`, `enabled` or factory rejects the call: execute never throws. A throwing
    // listener changes nothing: the emitter reports it as a warning.
    try {
      return this.chosen(context) ? this.inject(fn, context) : callThrough(fn, context);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Whether this call is one to inject into. */
  private chosen(context: ExecuteContext): boolean {
    const enabled = this.enabled;
    if (enabled === false || (enabled !== true && !enabled(context))) return false;
    const rate = typeof this.rate === 'number' ? this.rate : v.ratio('rate(context)', this.rate(context));
    return rate > 0 && (this.random ?? Math.random)() < rate;
  }

  /** For subclasses: injects into a call that was chosen, calling `fn` through or not. */
  protected abstract inject<T>(fn: Operation<T>, context: ExecuteContext): Promise<T | Extra>;

  /** For subclasses: emits `injected` with `event`, if anyone listens. */
  protected injected(event: InjectedEvent): void {
    if (this.listenerCount('injected') !== 0) this.emit('injected', event);
  }
}

/** Options of {@link injectFault}. */
export interface FaultOptions extends ChaosOptions {
  /** The error to throw, or a factory of it. @default () => new InjectedFaultError() */
  error?: Error | ((context: ExecuteContext) => Error);
}

class FaultPolicy extends ChaosPolicy {
  private readonly error: Error | ((context: ExecuteContext) => Error) | undefined;

  constructor(options: FaultOptions) {
    super('injectFault', options, ['error']);
    if (
      options.error !== undefined &&
      !v.isInstance('error', options.error, Error) &&
      typeof options.error !== 'function'
    ) {
      throw new TypeError(`error must be an Error or a function returning one, got ${v.show(options.error)}`);
    }
    this.error = options.error;
  }

  protected inject<T>(_fn: Operation<T>, context: ExecuteContext): Promise<T> {
    const e = this.error;
    const error = e === undefined ? new InjectedFaultError() : typeof e === 'function' ? e(context) : e;
    this.injected({ kind: 'fault', error });
    return Promise.reject(error);
  }
}

/** Options of {@link injectLatency}. */
export interface LatencyOptions extends ChaosOptions {
  /** ms to wait before calling through, or a function of the context. */
  latency: number | ((context: ExecuteContext) => number);
}

class LatencyPolicy extends ChaosPolicy {
  private readonly latency: number | ((context: ExecuteContext) => number);

  constructor(options: LatencyOptions) {
    super('injectLatency', options, ['latency']);
    this.latency =
      typeof options.latency === 'function' ? options.latency : v.milliseconds('latency', options.latency);
  }

  protected async inject<T>(fn: Operation<T>, context: ExecuteContext): Promise<T> {
    const latency =
      typeof this.latency === 'number'
        ? this.latency
        : v.milliseconds('latency(context)', this.latency(context));
    this.injected({ kind: 'latency', latency });
    await delay(this.clock ?? systemClock, latency, context as Context);
    return fn(context);
  }
}

/** Options of {@link injectOutcome}. */
export interface OutcomeOptions<R> extends ChaosOptions {
  /**
   * The made-up result (any value, `null` and `undefined` included), or a function of the
   * context returning it. A function is always called: to answer with a function itself,
   * return it from one.
   * @example
   * ```ts
   * injectOutcome({ rate: 1, outcome: () => handler }) // answers `handler`, not `handler(context)`
   * ```
   */
  outcome: R | ((context: ExecuteContext) => R | PromiseLike<R>);
}

class OutcomePolicy<R> extends ChaosPolicy<R> {
  private readonly outcome: R | ((context: ExecuteContext) => R | PromiseLike<R>);

  constructor(options: OutcomeOptions<R>) {
    super('injectOutcome', options, ['outcome']);
    if (!('outcome' in options)) throw new TypeError('injectOutcome: outcome is required');
    this.outcome = options.outcome;
  }

  protected async inject<T>(_fn: Operation<T>, context: ExecuteContext): Promise<R> {
    const o = this.outcome;
    const outcome =
      typeof o === 'function' ? await (o as (context: ExecuteContext) => R | PromiseLike<R>)(context) : o;
    this.injected({ kind: 'outcome', outcome });
    return outcome;
  }
}

/** Options of {@link injectBehavior}. */
export interface BehaviorOptions extends ChaosOptions {
  /** Runs before the call goes through (e.g. drops connections, fills a disk); the call waits for it. */
  behavior: (context: ExecuteContext) => void | PromiseLike<void>;
}

class BehaviorPolicy extends ChaosPolicy {
  private readonly behavior: (context: ExecuteContext) => void | PromiseLike<void>;

  constructor(options: BehaviorOptions) {
    super('injectBehavior', options, ['behavior']);
    this.behavior = v.func('behavior', options.behavior);
  }

  protected async inject<T>(fn: Operation<T>, context: ExecuteContext): Promise<T> {
    this.injected({ kind: 'behavior' });
    await this.behavior(context);
    // The caller may have given up while the behaviour ran: then the call does not go through.
    if ((context as Context).aborted) throw context.signal.reason;
    return fn(context);
  }
}

/**
 * Fails a share of calls without calling through, with an {@link InjectedFaultError} or the user's own error.
 * @example
 * ```ts
 * injectFault({ rate: 0.05, error: () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })
 * ```
 */
export function injectFault(options: FaultOptions): ChaosPolicy {
  return new FaultPolicy(options);
}

/**
 * Delays a share of calls before calling through; the wait is cut short by the call's signal.
 * @example
 * ```ts
 * injectLatency({ rate: 0.1, latency: 800 })
 * ```
 */
export function injectLatency(options: LatencyOptions): ChaosPolicy {
  return new LatencyPolicy(options);
}

/**
 * Answers a share of calls with a made-up result, without calling through.
 * @example
 * ```ts
 * injectOutcome({ rate: 0.01, outcome: () => [] })
 * ```
 */
export function injectOutcome<R>(options: OutcomeOptions<R>): ChaosPolicy<R> {
  return new OutcomePolicy(options);
}

/**
 * Runs a behaviour of the user's before a share of calls, then calls through.
 * @example
 * ```ts
 * injectBehavior({ rate: 0.01, behavior: () => pool.end() })
 * ```
 */
export function injectBehavior(options: BehaviorOptions): ChaosPolicy {
  return new BehaviorPolicy(options);
}
