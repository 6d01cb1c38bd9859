import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BreakwaterConfig,
  createPolicies,
  fromEnv,
  type Policies,
  toEnv,
} from '../../src/config/index.js';
import { ManualClock } from '../../src/testing/index.js';

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,4}){0,2}$/);
const ms = fc.integer({ min: 0, max: 100_000 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Drops keys whose value is undefined: a config as written by hand or read from JSON. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const breaker = fc
  .record({
    failureThreshold: maybe(fc.integer({ min: 1, max: 20 })),
    successThreshold: maybe(fc.integer({ min: 1, max: 3 })),
    openTimeout: maybe(ms),
    halfOpenMaxCalls: maybe(fc.integer({ min: 1, max: 3 })),
    halfOpenTimeout: maybe(
      fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.constant(Number.POSITIVE_INFINITY)),
    ),
    rate: maybe(
      fc.integer({ min: 1, max: 200 }).chain((size) =>
        fc.record({
          failureRateThreshold: fc.double({ min: 0.01, max: 1, noNaN: true }),
          window: fc.oneof(
            fc.constant({ type: 'count' as const, size }),
            fc.constant({ type: 'time' as const, duration: size * 100, buckets: 10 }),
          ),
          minimumCalls: fc.integer({ min: 1, max: size }),
        }),
      ),
    ),
    state: maybe(fc.constantFrom('auto' as const, 'isolated' as const, 'disabled' as const)),
  })
  .map(({ rate, ...rest }) => clean({ ...rest, ...(rate ?? {}) }));

const retry = fc
  .record({
    retries: maybe(fc.integer({ min: 0, max: 4 })),
    maxRetryAfter: maybe(ms),
    backoff: maybe(
      fc.oneof(
        fc.record({ type: fc.constant('constant' as const), delay: fc.integer({ min: 0, max: 1_000 }) }),
        fc
          .record({
            type: fc.constant('exponential' as const),
            initial: maybe(fc.integer({ min: 1, max: 500 })),
            factor: maybe(fc.double({ min: 1, max: 4, noNaN: true })),
            jitter: maybe(fc.constantFrom('none' as const, 'full' as const, 'decorrelated' as const)),
          })
          .map(clean),
      ),
    ),
    budget: maybe(
      fc.record({
        ratio: fc.double({ min: 0, max: 1, noNaN: true }).map(Math.abs),
        ttl: fc.integer({ min: 10, max: 60_000 }),
      }),
    ),
  })
  .map(clean);

const configs: fc.Arbitrary<BreakwaterConfig> = fc
  .record({
    breakers: fc.dictionary(name, breaker, { maxKeys: 3 }),
    retries: fc.dictionary(name, retry, { maxKeys: 2 }),
    timeouts: fc.dictionary(
      name,
      fc
        .record({ ms: ms, strategy: maybe(fc.constantFrom('cooperative' as const, 'aggressive' as const)) })
        .map(clean),
      { maxKeys: 2 },
    ),
    bulkheads: fc.dictionary(
      name,
      fc
        .record({
          maxConcurrent: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constant(Number.POSITIVE_INFINITY)),
          maxQueue: maybe(fc.integer({ min: 0, max: 50 })),
          queueTimeout: maybe(ms),
        })
        .map(clean),
      { maxKeys: 2 },
    ),
    flags: fc.dictionary(name, fc.boolean(), { maxKeys: 2 }),
  })
  .chain((c) => {
    const flags = Object.keys(c.flags);
    const chaos = fc.dictionary(
      name,
      fc
        .record({
          type: fc.constantFrom('fault' as const, 'latency' as const),
          rate: fc.double({ min: 0, max: 1, noNaN: true }).map(Math.abs),
          latency: ms,
          switch:
            flags.length === 0
              ? fc.boolean().map((b) => ({ enabled: b }))
              : fc.constantFrom(...flags).map((f) => ({ flag: f })),
        })
        .map(({ type, rate, latency, switch: s }) => ({
          type,
          rate,
          ...(type === 'latency' ? { latency } : {}),
          ...s,
        })),
      { maxKeys: 2 },
    );
    return chaos.chain((chaosEntries) => {
      const refs = [
        ...Object.keys(c.breakers).map((n) => `breaker:${n}`),
        ...Object.keys(c.retries).map((n) => `retry:${n}`),
        ...Object.keys(c.timeouts).map((n) => `timeout:${n}`),
        ...Object.keys(c.bulkheads).map((n) => `bulkhead:${n}`),
        ...Object.keys(chaosEntries).map((n) => `chaos:${n}`),
      ];
      const pipelines =
        refs.length === 0
          ? fc.constant({})
          : fc.dictionary(name, fc.record({ policies: fc.subarray(refs, { minLength: 1 }) }), { maxKeys: 2 });
      return pipelines.map((p) => clean({ ...c, chaos: chaosEntries, pipelines: p }) as BreakwaterConfig);
    });
  })
  // Empty groups have no environment form (no variable names them), so they are left out.
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, g]) => Object.keys(g as object).length > 0)));

/** What a breaker does: its state after each of 25 failing calls 1 ms apart, then after its open timeout. */
async function breakerTrace(p: Policies, clock: ManualClock, n: string): Promise<string[]> {
  const b = p.breakers[n]!;
  const trace: string[] = [b.state];
  for (let i = 0; i < 25; i++) {
    await b.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    clock.advance(1);
    trace.push(`${b.state}:${b.retryAfter}`);
  }
  clock.advance(100_001);
  await b.execute(() => 'up').catch(() => {});
  trace.push(b.state);
  return trace;
}

/** The delays a retry waits before each retry of a call that always fails (random and clock fixed). */
async function retryDelays(p: Policies, clock: ManualClock, n: string): Promise<number[]> {
  const r = p.retries[n]!;
  const delays: number[] = [];
  r.on('retried', (e) => delays.push(e.delay));
  let settled = false;
  const call = r
    .execute(() => Promise.reject(new Error('down')))
    .catch(() => {})
    .finally(() => {
      settled = true;
    });
  for (let i = 0; i < 10 && !settled; i++) await clock.advanceAsync(40_000);
  await call;
  return delays;
}

/** Everything a built set of policies shows from outside, and what its breakers and retries do. */
async function effective(config: BreakwaterConfig): Promise<unknown> {
  const clock = new ManualClock(1_000_000);
  const p = createPolicies(config, { clock, random: () => 0.5 });
  const out: Record<string, unknown> = {};
  for (const n of Object.keys(p.breakers)) out[`breaker:${n}`] = await breakerTrace(p, clock, n);
  for (const n of Object.keys(p.retries)) {
    const r = p.retries[n]!;
    out[`retry:${n}`] = [r.retries, r.budget?.ratio, r.budget?.ttl, await retryDelays(p, clock, n)];
  }
  for (const [n, t] of Object.entries(p.timeouts)) out[`timeout:${n}`] = [t.ms, t.strategy];
  for (const [n, b] of Object.entries(p.bulkheads))
    out[`bulkhead:${n}`] = [b.maxConcurrent, b.maxQueue, b.queueTimeout];
  for (const [n, f] of Object.entries(p.flags)) out[`flag:${n}`] = f.enabled;
  for (const [n, c] of Object.entries(p.chaos)) {
    // What one call drawn at 0.5 against the rate meets: injected (and what) or let through.
    const injected: string[] = [];
    c.on('injected', (e) => injected.push(e.kind === 'latency' ? `latency:${e.latency}` : e.kind));
    const call = c
      .execute(() => 'through')
      .then(
        (v) => v,
        (e: Error) => e.name,
      );
    clock.advance(100_001); // an injected latency's timer is set before execute returns
    out[`chaos:${n}`] = [await call, injected];
  }
  for (const [n, pipe] of Object.entries(p.pipelines)) {
    out[`pipeline:${n}`] = pipe.policies.map((x) => {
      const { kind, name } = x as unknown as { kind: string; name: string };
      return `${kind}:${name}`;
    });
  }
  return out;
}

describe('configuration through the environment', () => {
  it('fromEnv(toEnv(config)) is the same config, and builds policies that behave the same', async () => {
    await fc.assert(
      fc.asyncProperty(configs, async (config) => {
        const env = toEnv(config);
        for (const value of Object.values(env)) expect(typeof value).toBe('string');
        const back = fromEnv({ env });
        expect(back).toEqual(config);
        expect(await effective(back)).toEqual(await effective(config));
      }),
      { numRuns: 60 },
    );
  });

  it('a variable given a value of the wrong kind is named in the error', () => {
    const garbage = fc.constantFrom('not-a-value', '12abc', '--1', 'true false');
    fc.assert(
      fc.property(
        configs.filter((c) => Object.keys(toEnv(c)).length > 0),
        fc.nat(),
        garbage,
        (config, pick, bad) => {
          const env = toEnv(config);
          const names = Object.keys(env).filter((n) => !n.endsWith('__POLICIES') && env[n] !== 'defaults');
          fc.pre(names.length > 0);
          const variable = names[pick % names.length]!;
          expect(() => fromEnv({ env: { ...env, [variable]: bad } })).toThrow(
            expect.objectContaining({ message: expect.stringMatching(new RegExp(`^${variable}[ :]`)) }),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a value out of range is named in the error, with the constructor message', () => {
    fc.assert(
      fc.property(name, fc.constantFrom('0', '-3'), (n, bad) => {
        const variable = `BREAKWATER__BREAKERS__${n.replace(/-/g, '_').toUpperCase()}__FAILURE_THRESHOLD`;
        expect(() => fromEnv({ env: { [variable]: bad } })).toThrow(
          new RegExp(`^${variable}: failureThreshold must be|^${variable} must be an integer`),
        );
      }),
      { numRuns: 30 },
    );
  });
});
