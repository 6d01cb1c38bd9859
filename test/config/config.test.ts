import { describe, expect, it } from 'vitest';
import { isInjectedFaultError } from '../../src/chaos/index.js';
import {
  type BreakwaterConfig,
  createPolicies,
  Flag,
  fromEnv,
  reconfigure,
  toEnv,
} from '../../src/config/index.js';
import { ManualClock } from '../../src/testing/index.js';

/** The error `run` throws. */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('fromEnv', () => {
  it('maps groups, kebab-case names and camelCase options, parsing durations, Infinity, words and lists', () => {
    const config = fromEnv({
      env: {
        BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD: '5',
        BREAKWATER__BREAKERS__ORDERS_DB__OPEN_TIMEOUT: '30s',
        BREAKWATER__BREAKERS__ORDERS_DB__HALF_OPEN_TIMEOUT: 'Infinity',
        BREAKWATER__BREAKERS__SEARCH__FAILURE_RATE_THRESHOLD: '0.5',
        BREAKWATER__BREAKERS__SEARCH__WINDOW__TYPE: 'TIME',
        BREAKWATER__BREAKERS__SEARCH__WINDOW__DURATION: '1m',
        BREAKWATER__BREAKERS__PLAIN: 'defaults',
        BREAKWATER__RETRIES__ORDERS__RETRIES: '2',
        BREAKWATER__RETRIES__ORDERS__BACKOFF__TYPE: 'exponential',
        BREAKWATER__RETRIES__ORDERS__BACKOFF__INITIAL: '100ms',
        BREAKWATER__RETRIES__ORDERS__BUDGET__MIN_PER_SECOND: '5',
        BREAKWATER__TIMEOUTS__ORDERS__MS: '1.5s',
        BREAKWATER__BULKHEADS__ORDERS__MAX_CONCURRENT: '10',
        BREAKWATER__BULKHEADS__ORDERS__MAX_QUEUE: 'infinity',
        BREAKWATER__CHAOS__ORDERS_FAULTS__TYPE: 'fault',
        BREAKWATER__CHAOS__ORDERS_FAULTS__RATE: '0.1',
        BREAKWATER__CHAOS__ORDERS_FAULTS__FLAG: 'chaos',
        BREAKWATER__FLAGS__CHAOS: 'off',
        BREAKWATER__PIPELINES__ORDERS__POLICIES: 'retry:orders, breaker:orders-db,timeout:orders',
        BREAKWATER_SINGLE_UNDERSCORE: 'not ours',
        OTHER: 'ignored',
      },
    });
    expect(config).toEqual({
      breakers: {
        'orders-db': { failureThreshold: 5, openTimeout: 30_000, halfOpenTimeout: Number.POSITIVE_INFINITY },
        search: { failureRateThreshold: 0.5, window: { type: 'time', duration: 60_000 } },
        plain: {},
      },
      retries: {
        orders: { retries: 2, backoff: { type: 'exponential', initial: 100 }, budget: { minPerSecond: 5 } },
      },
      timeouts: { orders: { ms: 1_500 } },
      bulkheads: { orders: { maxConcurrent: 10, maxQueue: Number.POSITIVE_INFINITY } },
      chaos: { 'orders-faults': { type: 'fault', rate: 0.1, flag: 'chaos' } },
      flags: { chaos: false },
      pipelines: { orders: { policies: ['retry:orders', 'breaker:orders-db', 'timeout:orders'] } },
    });
    expect(JSON.parse(JSON.stringify(fromEnv({ env: { BREAKWATER__TIMEOUTS__T__MS: '2h' } })))).toEqual({
      timeouts: { t: { ms: 7_200_000 } },
    });
  });

  it('reads process.env by default, and another prefix when told', () => {
    process.env.BREAKWATER_TEST_ONLY__TIMEOUTS__T__MS = '5';
    try {
      expect(fromEnv({ prefix: 'BREAKWATER_TEST_ONLY' })).toEqual({ timeouts: { t: { ms: 5 } } });
    } finally {
      delete process.env.BREAKWATER_TEST_ONLY__TIMEOUTS__T__MS;
    }
    expect(fromEnv({ prefix: 'APP', env: { APP__FLAGS__X: 'yes', BREAKWATER__FLAGS__Y: 'no' } })).toEqual({
      flags: { x: true },
    });
  });

  it('reads FEATURE_ flags when asked, and refuses one set twice', () => {
    const env = { FEATURE_CHAOS: 'on', FEATURE_NEW_CHECKOUT: '0' };
    expect(fromEnv({ env })).toEqual({});
    expect(fromEnv({ env, features: 'FEATURE' })).toEqual({ flags: { chaos: true, 'new-checkout': false } });
    expect(() => fromEnv({ env: { ...env, BREAKWATER__FLAGS__CHAOS: 'on' }, features: 'FEATURE' })).toThrow(
      'FEATURE_CHAOS: sets the same option as BREAKWATER__FLAGS__CHAOS',
    );
    expect(() => fromEnv({ env: { FEATURE_CHAOS: 'maybe' }, features: 'FEATURE' })).toThrow(
      'FEATURE_CHAOS must be true or false (or on/off, yes/no, 1/0), got "maybe"',
    );
  });

  it('names the variable of every unknown, malformed or unparsable entry', () => {
    const cases: [Record<string, string>, string][] = [
      [
        { BREAKWATER__BREAKER__X__FAILURE_THRESHOLD: '1' },
        'BREAKWATER__BREAKER__X__FAILURE_THRESHOLD: unknown group BREAKER',
      ],
      [
        { BREAKWATER__BREAKERS__X__FAILURE_TRESHOLD: '1' },
        'BREAKWATER__BREAKERS__X__FAILURE_TRESHOLD: unknown option FAILURE_TRESHOLD',
      ],
      [
        { BREAKWATER__BREAKERS__X__WINDOW: '1' },
        'BREAKWATER__BREAKERS__X__WINDOW: WINDOW has options of its own',
      ],
      [{ BREAKWATER__BREAKERS___X__STATE: 'auto' }, 'BREAKWATER__BREAKERS___X__STATE: malformed name'],
      [{ BREAKWATER__BREAKERS__X: 'yes' }, 'BREAKWATER__BREAKERS__X must be "defaults"'],
      [
        { BREAKWATER__BREAKERS__X__FAILURE_THRESHOLD: 'five' },
        'BREAKWATER__BREAKERS__X__FAILURE_THRESHOLD must be an integer, got "five"',
      ],
      [
        { BREAKWATER__BREAKERS__X__FAILURE_THRESHOLD: '' },
        'BREAKWATER__BREAKERS__X__FAILURE_THRESHOLD is empty',
      ],
      [
        { BREAKWATER__BREAKERS__X__OPEN_TIMEOUT: '30 sec' },
        'BREAKWATER__BREAKERS__X__OPEN_TIMEOUT must be a duration',
      ],
      [
        { BREAKWATER__BREAKERS__X__STATE: 'open' },
        'BREAKWATER__BREAKERS__X__STATE must be one of auto, isolated, disabled, got "open"',
      ],
      [
        { BREAKWATER__FLAGS__X__Y: 'on' },
        'BREAKWATER__FLAGS__X__Y: a flag is set as BREAKWATER__FLAGS__NAME=on|off',
      ],
    ];
    for (const [env, message] of cases) {
      const error = thrown(() => fromEnv({ env }));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(message);
    }
  });

  it("checks values with the constructors' own rules, naming the variable, with their error as cause", () => {
    const zero = thrown(() => fromEnv({ env: { BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD: '0' } }));
    expect(zero).toBeInstanceOf(RangeError);
    expect(zero.message).toBe(
      'BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD: failureThreshold must be an integer >= 1, got 0',
    );
    expect(zero.cause).toBeInstanceOf(RangeError);
    expect((zero.cause as Error).message).toBe('failureThreshold must be an integer >= 1, got 0');

    const cases: [Record<string, string>, string][] = [
      [
        {
          BREAKWATER__RETRIES__R__BACKOFF__TYPE: 'exponential',
          BREAKWATER__RETRIES__R__BACKOFF__INITIAL: '5s',
          BREAKWATER__RETRIES__R__BACKOFF__MAX: '1s',
        },
        'BREAKWATER__RETRIES__R__BACKOFF__MAX: max must be >= initial (5000), got 1000',
      ],
      [
        { BREAKWATER__RETRIES__R__BUDGET__RATIO: '2' },
        'BREAKWATER__RETRIES__R__BUDGET__RATIO: budget.ratio must be',
      ],
      [
        { BREAKWATER__TIMEOUTS__T__STRATEGY: 'aggressive' },
        'BREAKWATER__TIMEOUTS__T__MS (not set): ms must be',
      ],
      [
        { BREAKWATER__CHAOS__C__TYPE: 'latency', BREAKWATER__CHAOS__C__RATE: '0.5' },
        'BREAKWATER__CHAOS__C__LATENCY (not set)',
      ],
      [
        { BREAKWATER__CHAOS__C__TYPE: 'fault', BREAKWATER__CHAOS__C__RATE: '1.5' },
        'BREAKWATER__CHAOS__C__RATE: rate must be a number in [0, 1], got 1.5',
      ],
      [
        {
          BREAKWATER__CHAOS__C__TYPE: 'fault',
          BREAKWATER__CHAOS__C__RATE: '0.5',
          BREAKWATER__CHAOS__C__FLAG: 'nope',
        },
        'BREAKWATER__CHAOS__C__FLAG: flag "nope" is not among the flags',
      ],
      [
        { BREAKWATER__PIPELINES__P__POLICIES: 'breaker:nope' },
        'BREAKWATER__PIPELINES__P__POLICIES: policies: "breaker:nope" names no policy of breakers',
      ],
      [
        { BREAKWATER__PIPELINES__P__POLICIES: 'circuit:x' },
        'BREAKWATER__PIPELINES__P__POLICIES: policies: "circuit:x" must be kind:name',
      ],
      [
        { BREAKWATER__BULKHEADS__B__MAX_CONCURRENT: '0' },
        'BREAKWATER__BULKHEADS__B__MAX_CONCURRENT: maxConcurrent must be an integer >= 1 or Infinity, got 0',
      ],
    ];
    for (const [env, message] of cases) expect(thrown(() => fromEnv({ env })).message).toContain(message);
  });

  it('refuses bad options of its own', () => {
    expect(() => fromEnv({ prefix: 'A__B' })).toThrow(/prefix must be a name like BREAKWATER/);
    expect(() => fromEnv({ prefx: 'X' } as never)).toThrow(/fromEnv: unknown option "prefx"/);
  });
});

describe('toEnv', () => {
  it('writes the variables fromEnv reads back', () => {
    const config: BreakwaterConfig = {
      breakers: {
        'orders-db': { failureThreshold: 5, window: { type: 'count', size: 50 }, failureRateThreshold: 0.5 },
        plain: {},
      },
      bulkheads: { pool: { maxConcurrent: Number.POSITIVE_INFINITY } },
      flags: { chaos: true },
      pipelines: { orders: { policies: ['bulkhead:pool', 'breaker:orders-db'] } },
    };
    const env = toEnv(config);
    expect(env).toEqual({
      BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD: '5',
      BREAKWATER__BREAKERS__ORDERS_DB__WINDOW__TYPE: 'count',
      BREAKWATER__BREAKERS__ORDERS_DB__WINDOW__SIZE: '50',
      BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_RATE_THRESHOLD: '0.5',
      BREAKWATER__BREAKERS__PLAIN: 'defaults',
      BREAKWATER__BULKHEADS__POOL__MAX_CONCURRENT: 'Infinity',
      BREAKWATER__FLAGS__CHAOS: 'true',
      BREAKWATER__PIPELINES__ORDERS__POLICIES: 'bulkhead:pool,breaker:orders-db',
    });
    expect(fromEnv({ env })).toEqual(config);
    expect(Object.keys(toEnv(config, { prefix: 'APP' }))[0]).toBe(
      'APP__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD',
    );
  });

  it('refuses unknown keys, names that have no environment form, and wrong types', () => {
    expect(() => toEnv({ breakers: { x: { failureTreshold: 1 } } } as never)).toThrow(
      'breakers.x.failureTreshold: unknown option "failureTreshold"',
    );
    expect(() => toEnv({ breakers: { OrdersDb: {} } })).toThrow(/policy names are kebab-case/);
    expect(() => toEnv({ timeouts: { t: { ms: '5' } } } as never)).toThrow(
      'timeouts.t.ms must be a number of ms or Infinity, got "5"',
    );
    expect(() => toEnv({ widgets: {} } as never)).toThrow('config: unknown group "widgets"');
  });
});

describe('createPolicies', () => {
  it('builds named policies and pipelines that share them, outermost first', () => {
    const p = createPolicies({
      breakers: { db: { failureThreshold: 2 } },
      retries: { r: { retries: 1, backoff: { type: 'constant', delay: 10 } } },
      timeouts: { t: { ms: 100, strategy: 'aggressive' } },
      bulkheads: { b: { maxConcurrent: 3, maxQueue: 4, queueTimeout: 50 } },
      pipelines: {
        a: { policies: ['retry:r', 'breaker:db', 'timeout:t'] },
        b: { policies: ['bulkhead:b', 'breaker:db'] },
      },
    });
    expect(p.pipelines.a!.policies).toEqual([p.retries.r, p.breakers.db, p.timeouts.t]);
    expect(p.pipelines.b!.policies[1]).toBe(p.breakers.db);
    expect([p.breakers.db!.name, p.retries.r!.retries, p.timeouts.t!.ms, p.timeouts.t!.strategy]).toEqual([
      'db',
      1,
      100,
      'aggressive',
    ]);
    expect([p.bulkheads.b!.maxConcurrent, p.bulkheads.b!.maxQueue, p.bulkheads.b!.queueTimeout]).toEqual([
      3, 4, 50,
    ]);
  });

  it('puts a breaker in the state the config asks for', () => {
    const p = createPolicies({
      breakers: { a: { state: 'isolated' }, b: { state: 'disabled' }, c: { state: 'auto' } },
    });
    expect([p.breakers.a!.state, p.breakers.b!.state, p.breakers.c!.state]).toEqual([
      'isolated',
      'disabled',
      'closed',
    ]);
  });

  it('gives every policy the clock it is given', async () => {
    const clock = new ManualClock();
    const p = createPolicies({ breakers: { db: { failureThreshold: 1, openTimeout: 1_000 } } }, { clock });
    await p.breakers.db!.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(p.breakers.db!.retryAfter).toBe(1_000);
    clock.advance(400);
    expect(p.breakers.db!.retryAfter).toBe(600);
  });

  it('switches a chaos injection with its flag, from the next call on', async () => {
    const p = createPolicies(
      { flags: { chaos: true }, chaos: { faults: { type: 'fault', rate: 1, flag: 'chaos' } } },
      { random: () => 0 },
    );
    const faults = p.chaos.faults!;
    await expect(faults.execute(() => 'real')).rejects.toSatisfy(isInjectedFaultError);
    const changes: boolean[] = [];
    p.flags.chaos!.on('changed', (e) => changes.push(e.enabled));
    p.flags.chaos!.set(false);
    p.flags.chaos!.set(false);
    await expect(faults.execute(() => 'real')).resolves.toBe('real');
    expect(changes).toEqual([false]);
  });

  it('names the config path of a bad value when it did not come from the environment', () => {
    const error = thrown(() => createPolicies({ breakers: { db: { failureThreshold: 0 } } }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe(
      'breakers.db.failureThreshold: failureThreshold must be an integer >= 1, got 0',
    );
    expect(() => createPolicies({ retries: { r: { backoff: { type: 'constant' } } } })).toThrow(
      'retries.r.backoff: backoff.delay is required for a constant backoff',
    );
    expect(() =>
      createPolicies({ retries: { r: { backoff: { type: 'constant', delay: 1, initial: 2 } as never } } }),
    ).toThrow('backoff.initial does not apply to a constant backoff');
    expect(() =>
      createPolicies({
        chaos: { c: { type: 'fault', rate: 0.1, enabled: true, flag: 'x' } },
        flags: { x: true },
      }),
    ).toThrow('flag and enabled exclude each other');
    expect(() => createPolicies({ pipelines: { p: { policies: [] } } })).toThrow(
      'policies must name at least one policy',
    );
  });
});

describe('Flag', () => {
  it('validates its options and values', () => {
    expect(new Flag({ name: 'x' }).enabled).toBe(false);
    expect(new Flag({ name: 'x', enabled: true }).read()).toBe(true);
    expect(() => new Flag({ name: '' })).toThrow('name must be a non-empty string, got ""');
    expect(() => new Flag({ name: 'x', enabled: 'yes' as never })).toThrow(
      'enabled must be a boolean, got "yes"',
    );
    expect(() => new Flag({ name: 'x', on: true } as never)).toThrow(/Flag: unknown option "on"/);
    expect(() => new Flag({ name: 'x' }).set(1 as never)).toThrow('enabled must be a boolean, got 1');
  });
});

describe('reconfigure', () => {
  it('changes running breakers in place, keeping their state, from the next call on', async () => {
    const clock = new ManualClock();
    const policies = createPolicies(
      { breakers: { db: { failureThreshold: 3, openTimeout: 1_000 }, other: {} } },
      { clock },
    );
    const db = policies.breakers.db!;
    const fail = () => db.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    await fail();
    await fail();
    reconfigure(
      policies,
      fromEnv({
        env: {
          BREAKWATER__BREAKERS__DB__FAILURE_THRESHOLD: '4',
          BREAKWATER__BREAKERS__DB__OPEN_TIMEOUT: '5s',
        },
      }),
    );
    await fail();
    expect(db.state).toBe('closed'); // 3 failures in a row, the two before the change kept: 4 needed now
    await fail();
    expect(db.state).toBe('open');
    expect(db.retryAfter).toBe(5_000);
    reconfigure(policies, { breakers: { other: { state: 'isolated' } } });
    expect(policies.breakers.other!.state).toBe('isolated');
    expect(db.state).toBe('open'); // not named: untouched
    reconfigure(policies, { breakers: { other: {} } });
    expect(policies.breakers.other!.state).toBe('closed');
  });

  it('changes nothing when any value is bad, and names its variable', () => {
    const policies = createPolicies({ breakers: { a: { failureThreshold: 2 }, b: {} } });
    const env = {
      BREAKWATER__BREAKERS__A__STATE: 'isolated',
      BREAKWATER__BREAKERS__B__FAILURE_THRESHOLD: '0',
    };
    expect(() =>
      reconfigure(policies, { breakers: { a: { state: 'isolated' }, b: { failureThreshold: 0 } } }),
    ).toThrow('breakers.b.failureThreshold: failureThreshold must be an integer >= 1, got 0');
    expect(() => fromEnv({ env })).toThrow(/^BREAKWATER__BREAKERS__B__FAILURE_THRESHOLD: /);
    expect(() => reconfigure(policies, { breakers: { c: {} } })).toThrow(
      'reconfigure: policies has no breaker named "c"',
    );
    expect(policies.breakers.a!.state).toBe('closed');
  });
});
