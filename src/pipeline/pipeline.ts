import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  adoptsDefaults,
  callThrough,
  type EXTRA,
  type ExecuteContext,
  type ExecuteOptions,
  type ExtraOf,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';

/**
 * Policies run one inside the other; the first is the outermost. See {@link pipeline}.
 */
export class Pipeline<P extends readonly Policy<unknown>[] = readonly Policy<unknown>[]>
  implements Policy<ExtraOf<P[number]>>, AdoptsDefaults
{
  declare readonly [EXTRA]?: ExtraOf<P[number]>;
  /** The policies, outermost first, for introspection (metrics adapters walk this). */
  readonly policies: P;

  constructor(policies: P, defaults: PolicyDefaults = {}) {
    policies.forEach((policy, i) => {
      const name = `pipeline: argument ${i + 1}`;
      if (
        typeof policy !== 'object' ||
        policy === null ||
        typeof v.readable(name, () => policy.execute) !== 'function'
      ) {
        throw new TypeError(
          `pipeline: argument ${i + 1} must be a policy with execute(fn, options), got ${v.show(policy)}`,
        );
      }
    });
    this.policies = Object.freeze([...policies]) as unknown as P;
    this[ADOPT_DEFAULTS](defaults);
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'pipeline' {
    return 'pipeline';
  }

  /** @internal Passes defaults on to every policy, a nested pipeline's included. */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    if (defaults.clock === undefined && defaults.random === undefined) return;
    for (const policy of this.policies) if (adoptsDefaults(policy)) policy[ADOPT_DEFAULTS](defaults);
  }

  /**
   * Runs `fn` through every policy, the first outermost: each hands the next the call's
   * context (its signal, attempt and key), and the innermost calls `fn`. The result type
   * adds what any policy may answer instead, such as a fallback's value.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | ExtraOf<P[number]>> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    return this.runFrom(0, fn, context);
  }

  private runFrom<T>(
    index: number,
    fn: Operation<T>,
    context: ExecuteContext,
  ): Promise<T | ExtraOf<P[number]>> {
    const policies = this.policies;
    const last = policies.length - 1;
    if (index > last) return callThrough(fn, context);
    // The innermost policy is handed `fn` itself: a closure and a promise less per call.
    const next: Operation<unknown> = index === last ? fn : (inner) => this.runFrom(index + 1, fn, inner);
    return policies[index]!.execute(next, context) as Promise<T | ExtraOf<P[number]>>;
  }
}

function isPolicy(value: unknown): value is Policy<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof v.readable('pipeline: argument 1', () => (value as Policy<unknown>).execute) === 'function'
  );
}

/**
 * Composes policies into one; the first runs outermost. Each call's signal and context
 * pass from layer to layer, and errors pass through unchanged unless a policy's own
 * rule says otherwise. A leading options object hands one clock and random source to
 * every policy that was given none of its own.
 *
 * @example
 * ```ts
 * const policy = pipeline(
 *   fallback(() => cachedOrders),
 *   retry({ retries: 3, backoff: exponential({ initial: 100, max: 5_000, jitter: 'decorrelated' }) }),
 *   new CircuitBreaker({ failureThreshold: 5 }),
 *   timeout(2_000),
 * );
 * const orders = await policy.execute(({ signal }) => db.query(sql, { signal }), { signal });
 * ```
 */
export function pipeline<P extends readonly Policy<unknown>[]>(...policies: P): Pipeline<P>;
export function pipeline<P extends readonly Policy<unknown>[]>(
  defaults: PolicyDefaults,
  ...policies: P
): Pipeline<P>;
export function pipeline(...args: unknown[]): Pipeline {
  const first = args[0];
  if (first !== undefined && !isPolicy(first)) {
    const defaults = v.object('pipeline defaults', first) as PolicyDefaults;
    v.knownKeys('pipeline', defaults, ['clock', 'random']);
    if (defaults.clock !== undefined) v.clock('clock', defaults.clock);
    if (defaults.random !== undefined) v.random('random', defaults.random);
    return new Pipeline(args.slice(1) as Policy<unknown>[], defaults);
  }
  return new Pipeline(args as Policy<unknown>[]);
}
