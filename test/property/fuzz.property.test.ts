/**
 * Fuzzing of every public constructor and factory, every `execute` option and `initialState`
 * with hostile values (test/fuzz/hostile.ts). The rule each must follow: work, or fail with a
 * TypeError or RangeError whose message names the option; never another error type, a
 * synchronous throw from `execute`, a hang, or a half-built object (a constructor that throws
 * leaves no listener, no timer and no adopted clock behind).
 *
 * "Work" is judged against the documented domain of each option: a value in it must be
 * accepted, a value outside it refused; `either` marks the values the docs leave open
 * (Infinity as "no limit", limits past the longest timer, an exotic object as an options bag).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InjectedFaultError,
  injectBehavior,
  injectFault,
  injectLatency,
  injectOutcome,
} from '../../src/chaos/index.js';
import {
  BrokenCircuitError,
  bulkhead,
  CircuitBreaker,
  constant,
  exponential,
  fallback,
  HealthMonitor,
  type Policy,
  pipeline,
  RetryBudget,
  retry,
  TimeoutError,
  timeout,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import {
  abortListeners,
  always,
  anyHostile,
  attempt,
  badError,
  describeError,
  domain,
  EXCLUDED,
  FIXED,
  type Hostile,
  hostile,
  inRange,
  intAtLeast,
  isFunction,
  isInfinity,
  isNumber,
  MAX_TIMER,
  never,
  nonEmptyString,
  type Outcome,
  params,
  processListeners,
  protoKey,
  type Settled,
  SpyClock,
  throwingGetters,
  type Verdict,
  within,
} from '../fuzz/hostile.js';

/** Random runs per property, after the fixed values (which always all run). */
const RUNS = 25;
/** Real time a call may take before it counts as hung. */
const BOUND = 500;

/** The marker for "define this option as a getter that throws" rather than giving a value. */
const GETTER = hostile('a getter that throws', () => undefined, 'throwing-getters');
const getters = !EXCLUDED.has('throwing-getters');
const withGetter = (random = RUNS): fc.Parameters<[Hostile]> => {
  const p = params(random);
  if (!getters) return p;
  return { ...p, numRuns: (p.numRuns ?? 0) + 1, examples: [...(p.examples ?? []), [GETTER]] };
};
const arb = getters
  ? fc.oneof({ weight: 9, arbitrary: anyHostile }, { weight: 1, arbitrary: fc.constant(GETTER) })
  : anyHostile;

class Violation extends Error {}
function fail(message: string): never {
  throw new Violation(message);
}

/** Sets `key` on `target` to the hostile value, or to a getter that throws for {@link GETTER}. */
function put(target: Record<string, unknown>, key: string, h: Hostile): unknown {
  if (h === GETTER) {
    Object.defineProperty(target, key, {
      enumerable: true,
      configurable: true,
      get() {
        throw new Error(`hostile getter: ${key}`);
      },
    });
    return undefined;
  }
  const value = h.make();
  target[key] = value;
  return value;
}

const sameListeners = (before: Record<string, number>) => {
  const after = processListeners();
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if ((before[key] ?? 0) !== (after[key] ?? 0)) {
      return `process listeners for ${key} went from ${before[key] ?? 0} to ${after[key] ?? 0}`;
    }
  }
  return undefined;
};

/**
 * Judges one construction against its verdict. On success `works` must hold; on failure the
 * error must name one of `names`, and nothing may be left behind.
 */
async function judge<T>(
  verdict: Verdict,
  outcome: Outcome<T>,
  names: readonly string[],
  leftovers: () => Promise<string | undefined> | string | undefined,
  works: (built: T) => Promise<string | undefined> | string | undefined,
): Promise<void> {
  if (outcome.ok) {
    if (verdict === 'invalid') fail('accepted a value outside its documented domain');
    const problem = await works(outcome.value);
    if (problem !== undefined) fail(`accepted it, but then: ${problem}`);
    return;
  }
  if (outcome.error instanceof Violation) throw outcome.error;
  if (verdict === 'valid') fail(`refused a valid value: ${describeError(outcome.error)}`);
  const bad = badError(outcome.error, names);
  if (bad !== undefined) fail(bad);
  const left = await leftovers();
  if (left !== undefined) fail(`threw, but left behind: ${left}`);
}

// --- the options of each constructor ----------------------------------------------------------

interface OptionSpec {
  readonly key: string;
  /** For a nested option (`window.size`): the field fuzzed inside `key`'s object, and its fixed fields. */
  readonly sub?: {
    readonly field: string;
    readonly fixed: Record<string, unknown>;
    readonly required?: boolean;
  };
  readonly verdict: (h: Hostile, value: unknown) => Verdict;
  /** Other names a message may call this option by. */
  readonly aliases?: readonly string[];
  /** The verdict for `undefined` (default: `invalid` for a required option, else `valid`). */
  readonly whenUndefined?: Verdict;
  /** Options this one needs beside the base ones. */
  readonly with?: Record<string, unknown>;
}

interface Target {
  readonly name: string;
  /** Names that a message about the options object as a whole may use. */
  readonly optionsNames: readonly string[];
  /** Options that must be given: a `{}` may be refused naming one of them. */
  readonly required: readonly string[];
  readonly optional: boolean;
  readonly specs: readonly OptionSpec[];
  base(clock: SpyClock): Record<string, unknown>;
  build(options: unknown): unknown;
  /** Undefined when the built object works. */
  works(built: unknown, clock: SpyClock): Promise<string | undefined>;
  /** After a construction threw: what it left on the objects it was given, if anything. */
  leftovers?(options: Record<string, unknown>, clock: SpyClock): string | undefined;
  /** A public field that a polluted `__proto__: { [field]: bad }` must not reach, and that value. */
  readonly pollutable?: { readonly field: string; readonly value: unknown };
  /** The verdict for the options argument itself, where it is not the usual one. */
  readonly wholeVerdict?: (h: Hostile, value: unknown) => Verdict | undefined;
}

const name: OptionSpec = { key: 'name', verdict: domain(nonEmptyString, (v) => v === '') };
const clockSpec: OptionSpec = { key: 'clock', verdict: domain(never) };
const func = (key: string, extra: Partial<OptionSpec> = {}): OptionSpec => ({
  key,
  verdict: domain(isFunction),
  ...extra,
});
/** A limit in ms that may be Infinity: [min, MAX_TIMER] or Infinity; past the longest timer may go either way. */
const msOrUnlimited = (min = 0) =>
  domain(
    (v) => inRange(min, MAX_TIMER)(v) || isInfinity(v),
    (v) => isNumber(v) && v > MAX_TIMER,
  );
const ratio = domain(inRange(0, 1));
const ratioExclusive = domain((v) => isNumber(v) && v > 0 && v <= 1);

async function resolves42(promise: () => PromiseLike<unknown>, also?: (s: Settled<unknown>) => boolean) {
  let p: PromiseLike<unknown>;
  try {
    p = promise();
  } catch (error) {
    return `execute threw synchronously: ${describeError(error)}`;
  }
  const settled = await within(p, BOUND);
  if (settled.status === 'resolved' && settled.value === 42) return undefined;
  if (also?.(settled)) return undefined;
  if (settled.status === 'hang') return `execute(() => 42) did not settle within ${BOUND} ms`;
  if (settled.status === 'rejected') return `execute(() => 42) rejected: ${describeError(settled.error)}`;
  return `execute(() => 42) resolved to ${String(settled.value)}`;
}

const executes = (built: unknown, also?: (s: Settled<unknown>) => boolean) =>
  resolves42(() => (built as Policy).execute(() => 42), also);

const breakerTarget: Target = {
  name: 'CircuitBreaker',
  optionsNames: ['options', 'CircuitBreaker'],
  required: [],
  optional: true,
  base: (clock) => ({ clock }),
  build: (o) => new CircuitBreaker(o as never),
  works: (b) => executes(b, (s) => s.status === 'rejected' && s.error instanceof BrokenCircuitError),
  pollutable: { field: 'name', value: 'polluted' },
  specs: [
    name,
    { key: 'failureThreshold', verdict: domain(intAtLeast(1), isInfinity) },
    { key: 'successThreshold', verdict: domain(intAtLeast(1), isInfinity) },
    {
      key: 'openTimeout',
      verdict: domain(
        (v) => inRange(0, MAX_TIMER)(v) || isFunction(v),
        (v) => isNumber(v) && v > MAX_TIMER,
      ),
    },
    { key: 'halfOpenMaxCalls', verdict: domain(intAtLeast(1), isInfinity) },
    {
      key: 'halfOpenTimeout',
      verdict: domain(
        (v) => inRange(1, MAX_TIMER)(v) || isInfinity(v),
        (v) => isNumber(v) && ((v >= 0 && v < 1) || v > MAX_TIMER),
      ),
    },
    func('isFailure'),
    { key: 'failureRateThreshold', verdict: ratioExclusive },
    { key: 'window', verdict: domain(never), with: { failureRateThreshold: 0.5 } },
    {
      key: 'window',
      sub: { field: 'size', fixed: { type: 'count' }, required: true },
      verdict: domain(intAtLeast(1, 1_000_000), (v) => intAtLeast(1_000_001)(v) || isInfinity(v)),
      with: { failureRateThreshold: 0.5 },
    },
    {
      key: 'window',
      sub: { field: 'duration', fixed: { type: 'time' }, required: true },
      // 10 buckets by default, of at least 1 ms each.
      verdict: domain(inRange(10, MAX_TIMER), (v) => isNumber(v) && v >= 0),
      with: { failureRateThreshold: 0.5 },
    },
    {
      key: 'window',
      sub: { field: 'buckets', fixed: { type: 'time', duration: 1_000 } },
      verdict: domain(intAtLeast(1, 1_000), (v) => intAtLeast(1_001)(v) || isInfinity(v)),
      with: { failureRateThreshold: 0.5 },
    },
    {
      key: 'minimumCalls',
      // The default window holds 100 calls.
      verdict: domain(intAtLeast(1, 100), (v) => intAtLeast(101)(v) || isInfinity(v)),
      with: { failureRateThreshold: 0.5 },
    },
    {
      key: 'slowCallDuration',
      verdict: domain(inRange(0, Number.MAX_VALUE), isInfinity),
      with: { slowCallRateThreshold: 0.5 },
      whenUndefined: 'invalid', // the two go together
    },
    {
      key: 'slowCallRateThreshold',
      verdict: ratioExclusive,
      with: { slowCallDuration: 100 },
      whenUndefined: 'invalid',
    },
    clockSpec,
  ],
};

const budgetVerdict = (h: Hostile, value: unknown): Verdict => {
  if (h.special === 'throwing-proxy' || h.special === 'revoked-proxy') return 'invalid';
  if (value instanceof RetryBudget || value === undefined) return 'valid';
  if (h.special === 'proto-key' || h.special === 'exotic-object') return 'either';
  if (h.special !== 'plain' && h.special !== 'throwing-toPrimitive') return 'invalid';
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)
    return 'valid';
  return 'invalid';
};

const retryTarget: Target = {
  name: 'retry',
  optionsNames: ['options', 'retry'],
  required: [],
  optional: true,
  // A shared budget given no clock: a retry that throws must not have handed it its clock.
  base: (clock) => ({ clock, backoff: constant(0), budget: new RetryBudget() }),
  build: (o) => retry(o as never),
  works: (p) => executes(p),
  leftovers: (options, clock) => {
    let budget: unknown;
    let shared = false;
    try {
      budget = options.budget;
      shared = budget instanceof RetryBudget;
    } catch {
      // a hostile getter or Proxy: not a RetryBudget, so no clock can have been handed to it
    }
    if (!shared) return undefined;
    const before = clock.nowCalls;
    void (budget as RetryBudget).available;
    return clock.nowCalls === before ? undefined : 'the shared budget adopted the clock of the failed retry';
  },
  pollutable: { field: 'retries', value: 99 },
  specs: [
    name,
    { key: 'retries', verdict: domain(intAtLeast(0), isInfinity) },
    func('backoff'),
    func('shouldRetry'),
    { key: 'maxElapsed', verdict: msOrUnlimited() },
    { key: 'maxRetryAfter', verdict: msOrUnlimited() },
    clockSpec,
    func('random'),
    // Options of a budget built from an object are checked by RetryBudget, under its name.
    { key: 'budget', verdict: budgetVerdict, aliases: ['RetryBudget'] },
  ],
};

const budgetTarget: Target = {
  name: 'RetryBudget',
  optionsNames: ['options', 'budget', 'RetryBudget'],
  required: [],
  optional: true,
  base: (clock) => ({ clock }),
  build: (o) => new RetryBudget(o as never),
  works: async (built) => {
    const b = built as RetryBudget;
    b.deposit();
    const took = b.tryWithdraw();
    if (typeof took !== 'boolean') return `tryWithdraw() returned ${String(took)}`;
    const available = b.available;
    if (!(available >= 0)) return `available is ${String(available)}`;
    return undefined;
  },
  pollutable: { field: 'ratio', value: 0.99 },
  specs: [
    { key: 'ratio', verdict: ratio },
    { key: 'minPerSecond', verdict: domain(inRange(0, Number.MAX_VALUE), isInfinity) },
    {
      key: 'ttl',
      verdict: domain(inRange(10, MAX_TIMER), (v) => isNumber(v) && ((v >= 0 && v < 10) || v > MAX_TIMER)),
    },
    clockSpec,
  ],
};

const timeoutTarget: Target = {
  name: 'timeout',
  optionsNames: ['options', 'timeout', 'ms'],
  required: ['ms'],
  optional: false,
  base: (clock) => ({ ms: 1_000, clock }),
  build: (o) => timeout(o as never),
  works: async (p, clock) => {
    const ms = (p as { ms: number }).ms;
    const problem = await executes(
      p,
      (s) => ms < 1 && s.status === 'rejected' && s.error instanceof TimeoutError,
    );
    if (problem !== undefined) return problem;
    return clock.pendingTimers === 0 ? undefined : `${clock.pendingTimers} timer(s) left after the call`;
  },
  pollutable: { field: 'strategy', value: 'aggressive' },
  wholeVerdict: (h, value) => (isNumber(value) ? msOrUnlimited()(h, value) : undefined),
  specs: [
    { key: 'ms', verdict: msOrUnlimited() },
    { key: 'strategy', verdict: domain((v) => v === undefined || v === 'cooperative' || v === 'aggressive') },
    name,
    clockSpec,
  ],
};

const fallbackTarget: Target = {
  name: 'fallback',
  optionsNames: ['options', 'fallback'],
  required: [],
  optional: true,
  base: (clock) => ({ clock }),
  build: (o) => fallback(0, o as never),
  works: async (p) => {
    const problem = await executes(p);
    if (problem !== undefined) return problem;
    const settled = await within(
      (p as Policy<number>).execute(() => Promise.reject(new Error('down'))),
      BOUND,
    );
    // 0, or with staleIfError the 42 of the call before.
    return settled.status === 'resolved' && (settled.value === 0 || settled.value === 42)
      ? undefined
      : `a failing call did not fall back to 0: ${settled.status}`;
  },
  pollutable: { field: 'name', value: 'polluted' },
  specs: [
    name,
    func('shouldFallback'),
    clockSpec,
    { key: 'staleIfError', verdict: domain(never) },
    {
      key: 'staleIfError',
      sub: { field: 'maxAge', fixed: {}, required: true },
      verdict: domain((v) => isNumber(v) && v >= 0),
    },
    {
      key: 'staleIfError',
      sub: { field: 'maxEntries', fixed: { maxAge: 1_000 } },
      // Infinity is refused on purpose: the cache would grow with every key ever seen.
      verdict: domain(intAtLeast(1)),
    },
    { key: 'staleIfError', sub: { field: 'key', fixed: { maxAge: 1_000 } }, verdict: domain(isFunction) },
  ],
};

const bulkheadTarget: Target = {
  name: 'bulkhead',
  optionsNames: ['options', 'bulkhead'],
  required: ['maxConcurrent'],
  optional: false,
  base: (clock) => ({ maxConcurrent: 1, clock }),
  build: (o) => bulkhead(o as never),
  works: (p) => executes(p),
  pollutable: { field: 'maxQueue', value: 99 },
  specs: [
    name,
    { key: 'maxConcurrent', verdict: domain(intAtLeast(1), isInfinity) },
    { key: 'maxQueue', verdict: domain((v) => intAtLeast(0)(v) || isInfinity(v)) },
    { key: 'queueTimeout', verdict: msOrUnlimited() },
    clockSpec,
  ],
};

const healthTarget: Target = {
  name: 'HealthMonitor',
  optionsNames: ['options', 'HealthMonitor'],
  required: [],
  optional: true,
  base: (clock) => ({ clock }),
  build: (o) => new HealthMonitor(o as never),
  works: async (m) => {
    const settled = await within((m as HealthMonitor).check(), BOUND);
    (m as HealthMonitor).dispose();
    return settled.status === 'resolved' && settled.value.status === 'healthy'
      ? undefined
      : `check() of an empty monitor: ${settled.status}`;
  },
  specs: [
    {
      key: 'checkTimeout',
      verdict: domain(
        inRange(1, MAX_TIMER),
        (v) => isInfinity(v) || (isNumber(v) && ((v >= 0 && v < 1) || v > MAX_TIMER)),
      ),
    },
    clockSpec,
  ],
};

const chaosTarget = (
  fnName: string,
  build: (o: never) => unknown,
  extra: Record<string, unknown>,
  specs: OptionSpec[],
): Target => ({
  name: fnName,
  optionsNames: ['options', fnName],
  required: ['rate', ...Object.keys(extra)],
  optional: false,
  // No clock: injected latency would wait on a ManualClock that nobody advances.
  base: () => ({ rate: 0, ...extra }),
  build: (o) => build(o as never),
  // A valid rate may inject: then a fault or an outcome is the answer.
  works: (p) =>
    executes(
      p,
      (s) =>
        (s.status === 'resolved' && s.value === 7) ||
        (s.status === 'rejected' && s.error instanceof InjectedFaultError),
    ),
  pollutable: { field: 'name', value: 'polluted' },
  specs: [
    { key: 'rate', verdict: domain((v) => inRange(0, 1)(v) || isFunction(v)) },
    {
      key: 'enabled',
      verdict: domain((v) => v === undefined || typeof v === 'boolean' || isFunction(v)),
    },
    name,
    func('random'),
    clockSpec,
    ...specs,
  ],
});

const TARGETS: readonly Target[] = [
  breakerTarget,
  retryTarget,
  budgetTarget,
  timeoutTarget,
  fallbackTarget,
  bulkheadTarget,
  healthTarget,
  chaosTarget('injectFault', injectFault, {}, [
    {
      key: 'error',
      verdict: domain((v) => v === undefined || isFunction(v) || v instanceof Error),
    },
  ]),
  chaosTarget('injectLatency', injectLatency, { latency: 0 }, [
    {
      key: 'latency',
      verdict: domain(
        (v) => inRange(0, MAX_TIMER)(v) || isFunction(v),
        (v) => isNumber(v) && v > MAX_TIMER,
      ),
    },
  ]),
  chaosTarget('injectOutcome', injectOutcome, { outcome: 7 }, [
    { key: 'outcome', verdict: domain(always), whenUndefined: 'valid' },
  ]),
  chaosTarget('injectBehavior', injectBehavior, { behavior: () => {} }, [func('behavior')]),
];

function specLabel(spec: OptionSpec): string {
  return spec.sub === undefined ? spec.key : `${spec.key}.${spec.sub.field}`;
}

describe.each(TARGETS)('fuzz: $name', (target) => {
  it.each(target.specs.map((spec) => [specLabel(spec), spec] as const))(
    'option %s: works or fails naming it',
    async (_label, spec) => {
      await fc.assert(
        fc.asyncProperty(arb, async (h) => {
          const clock = new SpyClock();
          const options: Record<string, unknown> = { ...target.base(clock), ...spec.with };
          let value: unknown;
          let names: string[];
          if (spec.sub === undefined) {
            value = put(options, spec.key, h);
            names = [spec.key, ...(spec.aliases ?? [])];
          } else {
            const inner: Record<string, unknown> = { ...spec.sub.fixed };
            value = put(inner, spec.sub.field, h);
            options[spec.key] = inner;
            names = [`${spec.key}.${spec.sub.field}`];
          }
          const required =
            spec.sub === undefined ? target.required.includes(spec.key) : spec.sub.required === true;
          const verdict: Verdict =
            h === GETTER
              ? 'invalid'
              : value === undefined && h.special === 'plain'
                ? (spec.whenUndefined ?? (required ? 'invalid' : 'valid'))
                : spec.verdict(h, value);
          // An own "__proto__" key may be refused as an unknown option, naming it.
          if (h.special === 'proto-key') names.push('__proto__');
          const before = processListeners();
          const outcome = attempt(() => target.build(options));
          await judge(
            verdict,
            outcome,
            names,
            () => sameListeners(before) ?? target.leftovers?.(options, clock) ?? pendingTimers(clock),
            // A user callback that misbehaves when called (a class, `() => {}` for a rate) is
            // the user's: the call need only settle.
            (built) => (typeof value === 'function' ? settles(built) : target.works(built, clock)),
          );
        }),
        withGetter(),
      );
    },
  );

  it('the options argument itself: works or fails naming it', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const clock = new SpyClock();
        const value = h.make();
        const verdict = target.wholeVerdict?.(h, value) ?? wholeVerdict(target, h, value);
        const before = processListeners();
        const outcome = attempt(() => target.build(value));
        await judge(
          verdict,
          outcome,
          [...target.optionsNames, ...target.required, '__proto__'],
          () => sameListeners(before) ?? pendingTimers(clock),
          (built) => target.works(built, clock),
        );
      }),
      params(RUNS),
    );
  });

  it('options whose every getter throws: fail naming an option', () => {
    const clock = new SpyClock();
    const options = target.base(clock);
    const hostileOptions = throwingGetters(Object.keys(options));
    const outcome = attempt(() => target.build(hostileOptions));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(badError(outcome.error, Object.keys(options))).toBeUndefined();
    }
  });

  it('options with an own "__proto__" key: never take what it holds', async () => {
    const clock = new SpyClock();
    const inner: Record<string, unknown> = { name: 'polluted' };
    if (target.pollutable !== undefined) inner[target.pollutable.field] = target.pollutable.value;
    const options = protoKey(inner, target.base(clock));
    const outcome = attempt(() => target.build(options));
    await judge(
      'either',
      outcome,
      [...target.optionsNames, '__proto__'],
      () => undefined,
      async (built) => {
        const p = target.pollutable;
        if (p !== undefined && (built as Record<string, unknown>)[p.field] === p.value) {
          return `${p.field} was taken from __proto__`;
        }
        return target.works(built, clock);
      },
    );
  });
});

/** Undefined when `built` is not a policy, or its `execute(() => 42)` settles in time without throwing. */
async function settles(built: unknown): Promise<string | undefined> {
  if (typeof (built as Partial<Policy>).execute !== 'function') return undefined;
  let promise: PromiseLike<unknown>;
  try {
    promise = (built as Policy).execute(() => 42);
  } catch (error) {
    return `execute threw synchronously: ${describeError(error)}`;
  }
  const settled = await within(promise, BOUND);
  return settled.status === 'hang' ? `execute(() => 42) did not settle within ${BOUND} ms` : undefined;
}

function pendingTimers(clock: SpyClock): string | undefined {
  return clock.pendingTimers === 0 ? undefined : `${clock.pendingTimers} timer(s) set on the clock`;
}

/** The usual verdict for an options argument. */
function wholeVerdict(target: Target, h: Hostile, value: unknown): Verdict {
  if (value === undefined) return target.optional ? 'valid' : 'invalid';
  if (h.special === 'exotic-object' || h.special === 'proto-key') return 'either';
  // An object whose only key is Symbol.toPrimitive is, as options, an empty object.
  if (h.special !== 'plain' && h.special !== 'throwing-toPrimitive') return 'invalid';
  const empty =
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
  if (empty) return target.required.length === 0 ? 'valid' : 'invalid';
  return 'invalid';
}

// --- backoffs and ManualClock ------------------------------------------------------------------

describe('fuzz: backoffs', () => {
  it('constant(ms): works or fails naming ms', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        const verdict = domain(inRange(0, MAX_TIMER), (v) => isNumber(v) && v > MAX_TIMER)(h, value);
        await judge(
          verdict,
          attempt(() => constant(value as never)),
          ['ms'],
          () => undefined,
          (b) => (b(1, new Error('x'), 0, Math.random) === value ? undefined : 'the delay is not ms'),
        );
      }),
      params(RUNS),
    );
  });

  const backoffWorks = (b: ReturnType<typeof exponential>) => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const previous = attempt === 1 ? 0 : b(attempt - 1, undefined, 0, () => 0.5);
      const d = b(attempt, new Error('x'), previous, () => 0.999);
      if (!(typeof d === 'number' && d >= 0 && d <= Number.MAX_VALUE)) {
        return `the delay before retry ${attempt} is ${String(d)}`;
      }
    }
    return undefined;
  };

  const expSpecs: OptionSpec[] = [
    // initial must not exceed the default max (30 s).
    {
      key: 'initial',
      verdict: domain(inRange(0, 30_000), (v) => isNumber(v) && v > 30_000 && v <= Number.MAX_VALUE),
    },
    // Below the default initial (100 ms) it is refused; Infinity as "no cap" may go either way.
    {
      key: 'max',
      verdict: domain(inRange(100, Number.MAX_VALUE), (v) => inRange(0, 100)(v) || isInfinity(v)),
    },
    { key: 'factor', verdict: domain(inRange(1, Number.MAX_VALUE)) },
    {
      key: 'jitter',
      verdict: domain((v) => v === undefined || v === 'none' || v === 'full' || v === 'decorrelated'),
    },
  ];

  it.each(expSpecs.map((s) => [s.key, s] as const))(
    'exponential option %s: works or fails naming it',
    async (_key, spec) => {
      await fc.assert(
        fc.asyncProperty(arb, async (h) => {
          const options: Record<string, unknown> = {};
          const value = put(options, spec.key, h);
          const verdict =
            h === GETTER
              ? 'invalid'
              : value === undefined && h.special === 'plain'
                ? 'valid'
                : spec.verdict(h, value);
          await judge(
            verdict,
            attempt(() => exponential(options)),
            [spec.key],
            () => undefined,
            backoffWorks,
          );
        }),
        withGetter(),
      );
    },
  );

  it('exponential(options): works or fails naming its options', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        const verdict = wholeVerdict({ optional: true, required: [] } as unknown as Target, h, value);
        await judge(
          verdict,
          attempt(() => exponential(value as never)),
          ['options', 'exponential', '__proto__'],
          () => undefined,
          backoffWorks,
        );
      }),
      params(RUNS),
    );
  });
});

describe('fuzz: ManualClock', () => {
  it('new ManualClock(start): works or fails naming start', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        const verdict = domain((v) => v === undefined || Number.isFinite(v))(h, value);
        await judge(
          verdict,
          attempt(() => new ManualClock(value as never)),
          ['start'],
          () => undefined,
          (c) => (Number.isFinite(c.now()) ? undefined : `now() is ${c.now()}`),
        );
      }),
      params(RUNS),
    );
  });

  it('advance(ms) and advanceAsync(ms): work or fail naming ms', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const verdict = domain(inRange(0, Number.MAX_VALUE), isInfinity)(h, h.make());
        const clock = new ManualClock();
        await judge(
          verdict,
          attempt(() => clock.advance(h.make() as never)),
          ['ms'],
          () => undefined,
          () => undefined,
        );
        const async = new ManualClock();
        let settled: Settled<void>;
        try {
          settled = await within(async.advanceAsync(h.make() as never), BOUND);
        } catch (error) {
          fail(`advanceAsync threw synchronously: ${describeError(error)}`);
        }
        if (settled.status === 'hang') fail('advanceAsync did not settle');
        await judge(
          verdict,
          settled.status === 'resolved'
            ? { ok: true, value: undefined }
            : { ok: false, error: settled.error },
          ['ms'],
          () => undefined,
          () => undefined,
        );
      }),
      params(RUNS),
    );
  });

  it('setTimeout(callback, ms): works or fails naming the argument', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, anyHostile, async (cb, ms) => {
        const clock = new ManualClock();
        const callback = cb.make();
        const delay = ms.make();
        const cbVerdict = domain(isFunction)(cb, callback);
        const msVerdict = domain(
          (v) => inRange(0, Number.MAX_VALUE)(v),
          (v) => isNumber(v) && !Number.isNaN(v),
        )(ms, delay);
        const verdict: Verdict =
          cbVerdict === 'invalid' || msVerdict === 'invalid'
            ? 'invalid'
            : cbVerdict === 'either' || msVerdict === 'either'
              ? 'either'
              : 'valid';
        const names = [
          ...(cbVerdict === 'invalid' ? ['callback'] : []),
          ...(msVerdict === 'invalid' ? ['ms'] : []),
        ];
        await judge(
          verdict,
          attempt(() => clock.setTimeout(callback as never, delay as never)),
          names.length === 0 ? ['callback', 'ms'] : names,
          () => (clock.pendingTimers === 0 ? undefined : 'a timer was set'),
          (handle) => (typeof handle?.clear === 'function' ? undefined : 'no clear() on the handle'),
        );
      }),
      {
        numRuns: 2 * FIXED.length + RUNS,
        examples: [
          ...FIXED.map((h) => [h, hostile('1', () => 1)] as [Hostile, Hostile]),
          ...FIXED.map((h) => [hostile('() => {}', () => () => {}), h] as [Hostile, Hostile]),
        ],
        endOnFailure: true,
        includeErrorInReport: true,
      },
    );
  });
});

// --- pipeline --------------------------------------------------------------------------------

const isPolicyLike = (v: unknown) =>
  typeof v === 'object' && v !== null && typeof (v as Policy).execute === 'function';

describe('fuzz: pipeline', () => {
  it('pipeline(x): a policy or defaults, or fails naming the argument', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        let verdict: Verdict;
        if (h.special === 'throwing-proxy' || h.special === 'revoked-proxy') verdict = 'invalid';
        else if (value === undefined) verdict = 'either';
        else if (isPolicyLike(value)) verdict = 'valid';
        else verdict = wholeVerdict({ optional: true, required: [] } as unknown as Target, h, value);
        await judge(
          verdict,
          attempt(() => pipeline(value as never)),
          ['pipeline', 'argument 1', 'defaults', '__proto__'],
          () => undefined,
          (p) => executes(p),
        );
      }),
      params(RUNS),
    );
  });

  it('pipeline(policy, x): fails naming the argument unless x is a policy, and the first policy adopts nothing', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const clock = new SpyClock();
        const breaker = new CircuitBreaker();
        const value = h.make();
        const verdict: Verdict =
          h.special === 'throwing-proxy' || h.special === 'revoked-proxy'
            ? 'invalid'
            : isPolicyLike(value)
              ? 'valid'
              : 'invalid';
        await judge(
          verdict,
          attempt(() => pipeline({ clock }, breaker, value as never)),
          ['pipeline', 'argument 2'],
          () => adopted(breaker, clock),
          (p) => executes(p),
        );
      }),
      params(RUNS),
    );
  });

  it.each(['clock', 'random'])('pipeline({ %s: x }, policy): works or fails naming it', async (key) => {
    await fc.assert(
      fc.asyncProperty(arb, async (h) => {
        const breaker = new CircuitBreaker();
        const defaults: Record<string, unknown> = {};
        const value = put(defaults, key, h);
        const verdict: Verdict =
          h === GETTER
            ? 'invalid'
            : value === undefined
              ? 'valid'
              : key === 'random'
                ? domain(isFunction)(h, value)
                : domain(never)(h, value);
        await judge(
          verdict,
          attempt(() => pipeline(defaults, breaker)),
          [key],
          () => undefined,
          (p) => executes(p),
        );
      }),
      withGetter(),
    );
  });
});

/** Whether `breaker` took `clock` (it reads it once it opens), and so was changed by a pipeline that threw. */
async function adopted(breaker: CircuitBreaker, clock: SpyClock): Promise<string | undefined> {
  for (let i = 0; i < 5; i++) await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
  void breaker.retryAfter;
  return clock.nowCalls === 0 ? undefined : 'a policy adopted the clock of a pipeline that threw';
}

// --- initialState ------------------------------------------------------------------------------

const STATES = ['closed', 'open', 'half-open', 'isolated', 'disabled'];

function validSnapshot(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return false;
  const keys = Object.keys(value);
  if (keys.some((k) => !['version', 'state', 'openUntil', 'consecutiveOpens'].includes(k))) return false;
  const s = value as Record<string, unknown>;
  if (s.version !== 1 || typeof s.state !== 'string' || !STATES.includes(s.state)) return false;
  const timed = s.state === 'open' || s.state === 'half-open';
  if (timed ? !(typeof s.openUntil === 'number' && Number.isFinite(s.openUntil)) : s.openUntil !== null)
    return false;
  return Number.isSafeInteger(s.consecutiveOpens) && (s.consecutiveOpens as number) >= 0;
}

const snapshotWorks = async (b: CircuitBreaker) => {
  if (!STATES.includes(b.state)) return `state is ${String(b.state)}`;
  return executes(b, (s) => s.status === 'rejected' && s.error instanceof BrokenCircuitError);
};

describe('fuzz: initialState', () => {
  it('initialState itself: a snapshot, or fails naming initialState', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const clock = new SpyClock();
        const value = h.make();
        const verdict: Verdict = value === undefined ? 'valid' : domain(validSnapshot)(h, value);
        await judge(
          verdict,
          attempt(() => new CircuitBreaker({ clock, initialState: value as never })),
          ['initialState'],
          () => undefined,
          snapshotWorks,
        );
      }),
      params(RUNS),
    );
  });

  const bases = [
    { version: 1, state: 'closed', openUntil: null, consecutiveOpens: 0 },
    { version: 1, state: 'open', openUntil: 1_000, consecutiveOpens: 2 },
  ];

  it.each(
    ['version', 'state', 'openUntil', 'consecutiveOpens'].flatMap((field) =>
      bases.map((base) => [field, base.state, base] as const),
    ),
  )('initialState.%s of a %s snapshot: works or fails naming it', async (field, _state, base) => {
    await fc.assert(
      fc.asyncProperty(arb, async (h) => {
        const clock = new SpyClock();
        const snapshot: Record<string, unknown> = { ...base };
        const value = put(snapshot, field, h);
        const verdict: Verdict =
          h === GETTER ? 'invalid' : domain(validSnapshot)(h, { ...base, [field]: value });
        await judge(
          verdict,
          attempt(() => new CircuitBreaker({ clock, initialState: snapshot as never })),
          [`initialState.${field}`, 'initialState'],
          () => undefined,
          snapshotWorks,
        );
      }),
      withGetter(),
    );
  });

  it('a snapshot with an own "__proto__" key, or behind a Proxy, fails naming initialState', () => {
    const snapshot = { version: 1, state: 'open', openUntil: 1_000, consecutiveOpens: 2 };
    const cases: Array<[string, unknown]> = [
      ['own __proto__ key', protoKey({ state: 'isolated' }, snapshot)],
      [
        'throwing Proxy',
        new Proxy(snapshot, {
          ownKeys: () => {
            throw new Error('ownKeys trap');
          },
        }),
      ],
    ];
    const problems: string[] = [];
    for (const [label, initialState] of cases) {
      const outcome = attempt(
        () => new CircuitBreaker({ clock: new SpyClock(), initialState: initialState as never }),
      );
      if (outcome.ok) {
        if (outcome.value.state === 'isolated') problems.push(`${label}: took state from __proto__`);
        continue;
      }
      const bad = badError(outcome.error, ['initialState']);
      if (bad !== undefined) problems.push(`${label}: ${bad}`);
    }
    expect(problems).toEqual([]);
  });
});

// --- HealthMonitor.register ----------------------------------------------------------------------

describe('fuzz: HealthMonitor.register', () => {
  /** After a register that threw: the breaker has no listener and the monitor no component. */
  async function untouched(monitor: HealthMonitor, breaker?: CircuitBreaker): Promise<string | undefined> {
    if (breaker !== undefined && breaker.eventNames().length !== 0) {
      return `the breaker kept listeners for ${breaker.eventNames().map(String).join(', ')}`;
    }
    const report = await within(monitor.check(), BOUND);
    if (report.status !== 'resolved') return `check() ${report.status}`;
    if (report.value.components.length !== 0)
      return `${report.value.components.length} component(s) registered`;
    return undefined;
  }

  async function run(
    h: Hostile,
    verdictOf: (h: Hostile, value: unknown) => Verdict,
    names: readonly string[],
    register: (monitor: HealthMonitor, breaker: CircuitBreaker, value: unknown) => unknown,
  ) {
    const monitor = new HealthMonitor({ clock: new SpyClock() });
    const breaker = new CircuitBreaker({ clock: new SpyClock() });
    const value = h.make();
    const verdict = verdictOf(h, value);
    const outcome = attempt(() => register(monitor, breaker, value));
    let left: string | undefined;
    if (!outcome.ok) left = await untouched(monitor, breaker);
    await judge(
      verdict,
      outcome,
      names,
      () => left,
      async () => {
        const report = await within(monitor.check(), BOUND);
        return report.status === 'resolved' && report.value.components.length === 1
          ? undefined
          : 'the component is not in the report';
      },
    );
    monitor.dispose();
  }

  const check = () => true;
  const msVerdict = domain(inRange(1, MAX_TIMER), (v) => isNumber(v) && v >= 0);
  const optionsVerdict = (h: Hostile, value: unknown) =>
    wholeVerdict({ optional: true, required: [] } as unknown as Target, h, value);

  const cases: ReadonlyArray<
    [
      string,
      (h: Hostile, v: unknown) => Verdict,
      string[],
      (m: HealthMonitor, b: CircuitBreaker, v: unknown) => unknown,
    ]
  > = [
    [
      'register(x, check)',
      domain(nonEmptyString),
      ['register', 'name'],
      (m, _b, v) => m.register(v as never, check),
    ],
    ['register("c", x)', domain(isFunction), ['check'], (m, _b, v) => m.register('c', v as never)],
    [
      'register(breaker, x)',
      optionsVerdict,
      ['register options', 'options'],
      (m, b, v) => m.register(b, v as never),
    ],
    [
      'register(breaker, { critical: x })',
      domain((v) => v === undefined || typeof v === 'boolean'),
      ['critical'],
      (m, b, v) => m.register(b, { critical: v as never }),
    ],
    [
      'register(breaker, { name: x })',
      domain((v) => v === undefined || nonEmptyString(v)),
      ['name'],
      (m, b, v) => m.register(b, { name: v as never }),
    ],
    [
      'register(breaker, { timeout: x })',
      domain((v) => v === undefined),
      ['timeout'],
      (m, b, v) => m.register(b, { timeout: v as never }),
    ],
    [
      'register("c", check, { timeout: x })',
      (h, v) => (v === undefined ? 'valid' : msVerdict(h, v)),
      ['timeout'],
      (m, _b, v) => m.register('c', check, { timeout: v as never }),
    ],
  ];

  it.each(cases)(
    '%s: works or fails naming it, and leaves nothing behind',
    async (_label, verdict, names, register) => {
      await fc.assert(
        fc.asyncProperty(anyHostile, async (h) => run(h, verdict, names, register)),
        params(RUNS),
      );
    },
  );
});

// --- execute: fn and options --------------------------------------------------------------------

interface Subject {
  readonly name: string;
  make(clock: SpyClock): Policy<unknown>;
  /** What a valid call of `() => 42` may answer besides 42. */
  readonly answers?: (s: Settled<unknown>) => boolean;
}

const SUBJECTS: readonly Subject[] = [
  { name: 'CircuitBreaker', make: (clock) => new CircuitBreaker({ clock }) },
  {
    name: 'CircuitBreaker (timed)',
    make: (clock) => new CircuitBreaker({ clock, slowCallDuration: 1_000, slowCallRateThreshold: 0.5 }),
  },
  { name: 'retry', make: (clock) => retry({ clock, retries: 2, backoff: constant(0) }) },
  { name: 'timeout (cooperative)', make: (clock) => timeout({ ms: 1_000, clock }) },
  { name: 'timeout (aggressive)', make: (clock) => timeout({ ms: 1_000, clock, strategy: 'aggressive' }) },
  { name: 'fallback', make: (clock) => fallback(0, { clock }) },
  {
    name: 'fallback (staleIfError)',
    make: (clock) => fallback(0, { clock, staleIfError: { maxAge: 1_000 } }),
  },
  { name: 'bulkhead', make: (clock) => bulkhead({ maxConcurrent: 1, clock }) },
  {
    name: 'pipeline',
    make: (clock) =>
      pipeline(
        { clock },
        fallback(0),
        retry({ retries: 1, backoff: constant(0) }),
        new CircuitBreaker(),
        bulkhead({ maxConcurrent: 4 }),
        timeout(1_000),
      ),
  },
  {
    name: 'injectFault (rate 1)',
    make: () => injectFault({ rate: 1 }),
    answers: (s) => s.status === 'rejected' && s.error instanceof InjectedFaultError,
  },
  { name: 'injectLatency (rate 1)', make: () => injectLatency({ rate: 1, latency: 0 }) },
  {
    name: 'injectOutcome (rate 1)',
    make: () => injectOutcome({ rate: 1, outcome: 7 }),
    answers: (s) => s.status === 'resolved' && s.value === 7,
  },
  { name: 'injectBehavior (rate 1)', make: () => injectBehavior({ rate: 1, behavior: () => {} }) },
];

/**
 * Runs one `execute` and judges it: a valid call answers as `subject` does; an invalid one
 * rejects (never throws) with a TypeError/RangeError naming the option, without calling fn.
 * No call may hang, and none may leave a timer or a listener on the caller's signal.
 */
async function call(
  subject: Subject,
  verdict: Verdict,
  names: readonly string[],
  args: (fn: () => number) => [unknown, unknown],
  signal?: AbortSignal,
): Promise<void> {
  const clock = new SpyClock();
  const policy = subject.make(clock);
  let calls = 0;
  const fn = () => {
    calls++;
    return 42;
  };
  const [f, options] = args(fn);
  let promise: PromiseLike<unknown>;
  try {
    promise = policy.execute(f as never, options as never);
  } catch (error) {
    fail(`execute threw synchronously instead of rejecting: ${describeError(error)}`);
  }
  if (typeof promise?.then !== 'function') fail('execute did not return a promise');
  const settled = await within(promise, BOUND);
  if (settled.status === 'hang') fail(`execute did not settle within ${BOUND} ms`);
  if (clock.pendingTimers !== 0) fail(`${clock.pendingTimers} timer(s) left after the call`);
  if (signal !== undefined && abortListeners(signal) !== 0)
    fail("a listener was left on the caller's signal");
  if (signal?.aborted === true && verdict !== 'invalid') {
    if (!(settled.status === 'rejected' && settled.error === signal.reason))
      fail(`a call with an aborted signal did not reject with its reason: ${show(settled)}`);
    if (calls !== 0) fail('fn ran although the signal was aborted');
    return;
  }
  const answered =
    (settled.status === 'resolved' && settled.value === 42) || subject.answers?.(settled) === true;
  const refused = (): string | undefined => {
    if (settled.status === 'resolved') return `resolved to ${String(settled.value)}`;
    const bad = badError(settled.error, names);
    if (bad !== undefined) return bad;
    return calls === 0 ? undefined : `fn ran ${calls} time(s) although the call was refused`;
  };
  if (verdict === 'valid') {
    if (!answered) fail(`a valid call ${show(settled)}`);
  } else if (verdict === 'invalid') {
    const problem = refused();
    if (problem !== undefined) fail(`an invalid call: ${problem}`);
  } else if (!answered) {
    const problem = refused();
    if (problem !== undefined) fail(`neither answered nor refused: ${problem}`);
  }
}

function show(settled: Settled<unknown>): string {
  if (settled.status === 'resolved') return `resolved to ${String(settled.value)}`;
  if (settled.status === 'rejected') return `rejected: ${describeError(settled.error)}`;
  return 'hung';
}

describe.each(SUBJECTS)('fuzz: execute of $name', (subject) => {
  it('fn: a function, or rejects naming fn', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        // A function is the user's: whatever it does (a class throws when called) is its own outcome.
        if (typeof value === 'function') return;
        await call(subject, 'invalid', ['fn'], () => [value, undefined]);
      }),
      params(RUNS),
    );
  });

  it('options: an object, or rejects naming it', async () => {
    await fc.assert(
      fc.asyncProperty(anyHostile, async (h) => {
        const value = h.make();
        let verdict: Verdict;
        if (value === undefined) verdict = 'valid';
        else if (h.special === 'throwing-proxy' || h.special === 'revoked-proxy') verdict = 'invalid';
        else if (h.special !== 'plain' || Array.isArray(value)) verdict = 'either';
        else verdict = typeof value === 'object' && value !== null ? 'valid' : 'invalid';
        await call(subject, verdict, ['options', 'execute'], (fn) => [fn, value]);
      }),
      params(RUNS),
    );
  });

  it('options.signal: an AbortSignal, or rejects naming signal', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async (h) => {
        const options: Record<string, unknown> = {};
        const value = put(options, 'signal', h);
        const isSignal = (() => {
          try {
            return value instanceof AbortSignal;
          } catch {
            return false;
          }
        })();
        const verdict: Verdict =
          h === GETTER ? 'invalid' : value === undefined || isSignal ? 'valid' : 'invalid';
        await call(
          subject,
          verdict,
          ['signal'],
          (fn) => [fn, options],
          isSignal ? (value as AbortSignal) : undefined,
        );
      }),
      withGetter(),
    );
  });

  it('options.key: a string, or rejects naming key', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async (h) => {
        const options: Record<string, unknown> = {};
        const value = put(options, 'key', h);
        const verdict: Verdict =
          h === GETTER ? 'invalid' : value === undefined || typeof value === 'string' ? 'valid' : 'invalid';
        await call(subject, verdict, ['key'], (fn) => [fn, options]);
      }),
      withGetter(),
    );
  });
});
