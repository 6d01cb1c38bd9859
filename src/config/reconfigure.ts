import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { CircuitBreakerSettings } from '../circuit-breaker/options.js';
import * as v from '../validate.js';
import { createPolicies, type Policies } from './create.js';
import type { BreakwaterConfig } from './schema.js';

/** The breaker options a config sets, each returned to its default when the config leaves it out. */
const DATA_SETTINGS = [
  'failureThreshold',
  'successThreshold',
  'openTimeout',
  'halfOpenMaxCalls',
  'halfOpenTimeout',
  'failureRateThreshold',
  'window',
  'minimumCalls',
  'slowCallDuration',
  'slowCallRateThreshold',
] as const;

/**
 * Applies a changed config to the breakers {@link createPolicies} built, without a restart
 * and without losing their state: each breaker named in `config.breakers` is given its
 * options with `configure` (an option the config leaves out returns to its default; an
 * open circuit stays open, counts are kept), and its `state` (`isolated`, `disabled`, or
 * `auto`, which resets a breaker that was isolated or disabled). The whole config is checked
 * first, with the same errors as {@link createPolicies} (naming the variables when it came
 * from {@link fromEnv}): on an error nothing changes. Other groups are not applied (their
 * policies cannot be changed in place); a breaker the config names that `policies` lacks is an error.
 *
 * @example
 * ```ts
 * const policies = createPolicies(fromEnv());
 * process.on('SIGHUP', () => reconfigure(policies, fromEnv()));
 * ```
 */
export function reconfigure(policies: Policies, config: BreakwaterConfig): void {
  const target = v.object('policies', policies);
  const breakers = v.object('policies.breakers', target.breakers);
  createPolicies(config); // every value checked, as the constructors check it, before anything changes
  const entries = (config.breakers ?? {}) as Record<string, Record<string, unknown>>;
  for (const name of Object.keys(entries)) {
    const breaker = breakers[name] as { configure?: unknown } | undefined;
    if (breaker === undefined) {
      throw new TypeError(
        `reconfigure: policies has no breaker named ${JSON.stringify(name)} (build new ones with createPolicies)`,
      );
    }
    if (typeof breaker.configure !== 'function') {
      throw new TypeError(`reconfigure: breaker ${JSON.stringify(name)} has no configure()`);
    }
  }
  for (const [name, entry] of Object.entries(entries)) {
    const breaker = breakers[name] as CircuitBreaker;
    const settings: Record<string, unknown> = {};
    for (const key of DATA_SETTINGS) settings[key] = entry[key];
    breaker.configure(settings as CircuitBreakerSettings);
    const state = entry.state ?? 'auto';
    if (state === 'isolated') breaker.isolate();
    else if (state === 'disabled') breaker.disable();
    else if (breaker.state === 'isolated' || breaker.state === 'disabled') breaker.reset();
  }
}
