/** A breaker's options as plain data: `CircuitBreakerOptions` without functions, clock, name or snapshot. */
export interface BreakerConfig {
  /** Consecutive failures that open the circuit. @default 5 (none in rate mode) */
  failureThreshold?: number;
  /** Probe successes that close it again. @default 1 */
  successThreshold?: number;
  /** ms the circuit stays open; from the environment also `30s`, `5m`, `1h`, `250ms`. @default 30_000 */
  openTimeout?: number;
  /** Probes admitted at once while half-open. @default 1 */
  halfOpenMaxCalls?: number;
  /** ms probes may hold the half-open state, or `Infinity`. @default Infinity */
  halfOpenTimeout?: number;
  /** Turns on rate mode: the failure share over `window` that opens the circuit, in (0, 1]. @default none */
  failureRateThreshold?: number;
  /** The calls a rate threshold looks at. @default { type: 'count', size: 100 } */
  window?: WindowConfig;
  /** Calls the window must hold before a rate can open the circuit. @default 10 */
  minimumCalls?: number;
  /** ms after which a call counts as slow (with `slowCallRateThreshold`). @default none */
  slowCallDuration?: number;
  /** The share of slow calls that opens the circuit, in (0, 1]. @default none */
  slowCallRateThreshold?: number;
  /**
   * `isolated` or `disabled` puts the new breaker in that state at once (as `isolate()` or
   * `disable()` would); `auto` leaves it closed.
   * @default 'auto'
   */
  state?: 'auto' | 'isolated' | 'disabled';
}

/** A breaker's window as plain data: the last `size` calls, or the calls of the last `duration` ms. */
export interface WindowConfig {
  /** `count` or `time`. */
  type: 'count' | 'time';
  /** For `count`: calls kept. */
  size?: number;
  /** For `time`: ms covered. */
  duration?: number;
  /** For `time`: buckets the duration is cut into. @default 10 */
  buckets?: number;
}

/** A retry's backoff as plain data: `constant(delay)` or `exponential({ initial, max, factor, jitter })`. */
export interface BackoffConfig {
  /** Which backoff. */
  type: 'constant' | 'exponential';
  /** For `constant`: ms before every retry. */
  delay?: number;
  /** For `exponential`: ms before the first retry. @default 100 */
  initial?: number;
  /** For `exponential`: the longest delay (ms). @default 30_000 */
  max?: number;
  /** For `exponential`: growth per retry. @default 2 */
  factor?: number;
  /** For `exponential`: `none`, `full` or `decorrelated`. @default 'none' */
  jitter?: 'none' | 'full' | 'decorrelated';
}

/** A retry budget's options as plain data (see `RetryBudgetOptions`). */
export interface BudgetConfig {
  /** Retries allowed per first attempt. @default 0.2 */
  ratio?: number;
  /** Retries per second allowed whatever the ratio. @default 10 */
  minPerSecond?: number;
  /** ms a call counts toward the budget. @default 10_000 */
  ttl?: number;
}

/** A retry's options as plain data. */
export interface RetryConfig {
  /** Retries after the first attempt, or `Infinity` (with `maxElapsed` or `budget`). @default 3 */
  retries?: number;
  /** ms from the first attempt after which no retry starts. @default Infinity */
  maxElapsed?: number;
  /** The longest `retryAfter` (ms) waited out. @default 1_000 */
  maxRetryAfter?: number;
  /** The delay before each retry. @default exponential, 100 ms to 30 s, full jitter */
  backoff?: BackoffConfig;
  /** A budget of this retry's own. @default none */
  budget?: BudgetConfig;
}

/** A timeout's options as plain data. */
export interface TimeoutConfig {
  /** The limit (ms), or `Infinity`. */
  ms: number;
  /** `cooperative` or `aggressive`. @default 'cooperative' */
  strategy?: 'cooperative' | 'aggressive';
}

/** A bulkhead's options as plain data. */
export interface BulkheadConfig {
  /** Calls that may run at once, or `Infinity`. */
  maxConcurrent: number;
  /** Calls that may wait, or `Infinity`. @default 0 */
  maxQueue?: number;
  /** ms a call may wait, or `Infinity`. @default Infinity */
  queueTimeout?: number;
}

/** A chaos injection as plain data: a fault (an `InjectedFaultError`) or latency. */
export interface ChaosConfig {
  /** What to inject. */
  type: 'fault' | 'latency';
  /** Share of calls injected into, in [0, 1]. */
  rate: number;
  /** For `latency`: ms added before the call. */
  latency?: number;
  /** Whether it injects; give `flag` instead to switch it at run time. @default true */
  enabled?: boolean;
  /** The name of a flag of `flags` that switches it (on the dashboard, or with `Flag.set`). @default none */
  flag?: string;
}

/** A pipeline as plain data. */
export interface PipelineConfig {
  /** Its policies, outermost first, as `kind:name`: `breaker:orders-db`, `retry:orders`, `timeout:x`, `bulkhead:x`, `chaos:x`. */
  policies: string[];
}

/**
 * Named policies as plain, JSON-able data, from {@link fromEnv}, a JSON file or code; built by
 * {@link createPolicies}. Names are kebab-case (`orders-db`): lower-case letters, digits and
 * single hyphens, so that every config has an environment form ({@link toEnv}).
 */
export interface BreakwaterConfig {
  /** Circuit breakers by name. */
  breakers?: Record<string, BreakerConfig>;
  /** Retries by name. */
  retries?: Record<string, RetryConfig>;
  /** Timeouts by name. */
  timeouts?: Record<string, TimeoutConfig>;
  /** Bulkheads by name. */
  bulkheads?: Record<string, BulkheadConfig>;
  /** Chaos injections by name. */
  chaos?: Record<string, ChaosConfig>;
  /** Switches, on or off; a chaos injection's `flag` names one. */
  flags?: Record<string, boolean>;
  /** Pipelines by name, made of the policies above. */
  pipelines?: Record<string, PipelineConfig>;
}

/** How a value is written in the environment and read back. */
export type Leaf =
  | 'integer' // an integer
  | 'count' // an integer or Infinity
  | 'ms' // ms, or a duration with a unit
  | 'msOrInfinity'
  | 'number' // any finite number
  | 'boolean'
  | 'list' // comma-separated strings
  | 'name' // a kebab-case name
  | readonly string[]; // one of these words

export interface Shape {
  readonly [key: string]: Leaf | Shape;
}

const BREAKER: Shape = {
  failureThreshold: 'integer',
  successThreshold: 'integer',
  openTimeout: 'ms',
  halfOpenMaxCalls: 'integer',
  halfOpenTimeout: 'msOrInfinity',
  failureRateThreshold: 'number',
  window: { type: ['count', 'time'], size: 'integer', duration: 'ms', buckets: 'integer' },
  minimumCalls: 'integer',
  slowCallDuration: 'ms',
  slowCallRateThreshold: 'number',
  state: ['auto', 'isolated', 'disabled'],
};

const RETRY: Shape = {
  retries: 'count',
  maxElapsed: 'msOrInfinity',
  maxRetryAfter: 'msOrInfinity',
  backoff: {
    type: ['constant', 'exponential'],
    delay: 'ms',
    initial: 'ms',
    max: 'ms',
    factor: 'number',
    jitter: ['none', 'full', 'decorrelated'],
  },
  budget: { ratio: 'number', minPerSecond: 'number', ttl: 'ms' },
};

/** The options of each group's entries; `flags` map a name straight to a boolean. */
export const GROUPS: Readonly<Record<Exclude<keyof BreakwaterConfig, 'flags'>, Shape>> = {
  breakers: BREAKER,
  retries: RETRY,
  timeouts: { ms: 'msOrInfinity', strategy: ['cooperative', 'aggressive'] },
  bulkheads: { maxConcurrent: 'count', maxQueue: 'count', queueTimeout: 'msOrInfinity' },
  chaos: { type: ['fault', 'latency'], rate: 'number', latency: 'ms', enabled: 'boolean', flag: 'name' },
  pipelines: { policies: 'list' },
};

export const GROUP_NAMES = [...Object.keys(GROUPS), 'flags'] as readonly (keyof BreakwaterConfig)[];

/** Policy names: kebab-case, so that `ORDERS_DB` and `orders-db` map onto each other. */
export const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** The kinds a pipeline's `kind:name` may name, and the group each is in. */
export const REFERENCES: Readonly<Record<string, Exclude<keyof BreakwaterConfig, 'flags' | 'pipelines'>>> = {
  breaker: 'breakers',
  retry: 'retries',
  timeout: 'timeouts',
  bulkhead: 'bulkheads',
  chaos: 'chaos',
};
