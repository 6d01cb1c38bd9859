import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bulkhead, CircuitBreaker, HealthMonitor } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

const clock = new ManualClock();

function revoked(target: object = {}): object {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

function throwingTraps(): object {
  const trap = () => {
    throw new Error('trap');
  };
  return new Proxy(
    {},
    { get: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, has: trap, getPrototypeOf: trap },
  );
}

/** An object whose own key `key` is a getter that throws. */
function throwingGetter(key: string): object {
  return Object.defineProperty({}, key, {
    enumerable: true,
    get() {
      throw new Error(`getter ${key}`);
    },
  });
}

/** Stands for a value fast-check cannot hold; {@link real} makes it. */
class Hostile {
  constructor(readonly kind: 'revoked' | 'revoked-function' | 'traps') {}
}

function real(value: unknown): unknown {
  if (!(value instanceof Hostile)) return value;
  if (value.kind === 'revoked') return revoked();
  return value.kind === 'traps' ? throwingTraps() : revoked(() => {});
}

/** Values no option accepts, or accepts only some of: every kind of wrong, and a few right ones. */
const oddValue = fc.oneof(
  fc.anything(),
  fc.constantFrom<unknown>(
    undefined,
    null,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -1,
    0,
    0.5,
    1,
    2 ** 31,
    Number.MAX_VALUE,
    '',
    '5',
    'healthy',
    true,
    false,
    Symbol('s'),
    10n,
    () => true,
    [],
    new ManualClock(),
    { now: 1, setTimeout: 2 },
    Object.create(null),
  ),
  // fast-check probes the values it makes (`in`), which these would fail: they are made in the property.
  fc.constantFrom<Hostile>(new Hostile('revoked'), new Hostile('revoked-function'), new Hostile('traps')),
);

/** `instanceof`, for values whose traps may throw. */
function isBreaker(value: unknown): value is CircuitBreaker {
  try {
    return value instanceof CircuitBreaker;
  } catch {
    return false;
  }
}

/** Asserts an error is a TypeError or RangeError whose message names one of `names`. */
function expectNamed(error: unknown, names: readonly string[]): void {
  expect(error instanceof TypeError || error instanceof RangeError, String(error)).toBe(true);
  const message = (error as Error).message;
  expect(
    names.some((n) => message.includes(n)),
    `${message} names none of ${names.join(', ')}`,
  ).toBe(true);
}

/** The monitor's components, and the listeners it holds on `breaker`: what a failed register must leave alone. */
async function stateOf(health: HealthMonitor, breaker: CircuitBreaker) {
  return {
    components: (await health.check()).components.map((c) => `${c.kind}:${c.name}:${c.critical}`),
    listeners: breaker.listenerCount('stateChanged'),
  };
}

describe('HealthMonitor constructor, fuzzed', () => {
  it('works, or throws a TypeError/RangeError naming the option, for any value of each option', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('checkTimeout', 'clock', 'unknownOption'),
        oddValue,
        fc.constantFrom('plain', 'getter-throws'),
        async (key, value, shape) => {
          const options = shape === 'plain' ? { [key]: real(value) } : throwingGetter(key);
          let health: HealthMonitor;
          try {
            health = new HealthMonitor(options as never);
          } catch (error) {
            expectNamed(error, [key]);
            return;
          }
          // Built: it must work, whatever was accepted.
          expect(shape).toBe('plain');
          expect(health.status).toBe('healthy');
          health.register('ok', () => true);
          const report = await health.check();
          expect(report.status).toBe('healthy');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('throws a TypeError naming the options for a whole options value that is wrong', () => {
    fc.assert(
      fc.property(oddValue, (options) => {
        fc.pre(options !== undefined);
        let health: HealthMonitor | undefined;
        try {
          health = new HealthMonitor(real(options) as never);
        } catch (error) {
          expectNamed(error, ['HealthMonitor options', 'checkTimeout', 'clock']);
          return;
        }
        expect(health.status).toBe('healthy');
      }),
      { numRuns: 300 },
    );
  });

  it.each<[string, unknown, RegExp]>([
    ['null options', null, /^HealthMonitor options must be an object, got null$/],
    ['null checkTimeout', { checkTimeout: null }, /^checkTimeout must be a number of ms .*got null$/],
    [
      'NaN checkTimeout',
      { checkTimeout: Number.NaN },
      /^checkTimeout must be a finite number of ms .*got NaN$/,
    ],
    ['null clock', { clock: null }, /^clock must have now\(\) and setTimeout.*got null$/],
    ['a revoked Proxy', revoked(), /^HealthMonitor options could not be read$/],
    ['a Proxy whose traps throw', throwingTraps(), /^HealthMonitor options could not be read$/],
    [
      'a throwing getter',
      throwingGetter('checkTimeout'),
      /^HealthMonitor options: reading checkTimeout threw$/,
    ],
    ['a clock whose getters throw', { clock: throwingTraps() }, /^clock: reading now or setTimeout threw$/],
    ['an unknown option', { checktimeout: 5 }, /unknown option "checktimeout"/],
  ])('names the problem for %s', (_label, options, message) => {
    expect(() => new HealthMonitor(options as never)).toThrow(message);
  });

  it('keeps the cause of a getter that threw', () => {
    const error = (() => {
      try {
        new HealthMonitor(throwingGetter('clock') as never);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(TypeError);
    expect(error!.cause).toMatchObject({ message: 'getter clock' });
  });

  it('reads each option once and lends none from Object.prototype', () => {
    let reads = 0;
    const options = Object.defineProperty({}, 'checkTimeout', {
      enumerable: true,
      get() {
        reads++;
        return reads === 1 ? 100 : Number.NaN;
      },
    });
    expect(() => new HealthMonitor(options as never)).not.toThrow();
    expect(reads).toBe(1);
    const inherited = Object.create({ checkTimeout: 'not a number' });
    expect(() => new HealthMonitor(inherited)).not.toThrow();
  });
});

describe('HealthMonitor.register, fuzzed', () => {
  const target = fc.oneof(
    fc.constantFrom<unknown>('dep', ''),
    fc.constant(null).map(() => new CircuitBreaker({ name: 'cb', clock })),
    fc.constant(null).map(() => bulkhead({ maxConcurrent: 1, name: 'bh' })),
    fc.constant(null).map(() => new Proxy(new CircuitBreaker({ name: 'proxied', clock }), {})),
    fc.constant(null).map(
      () =>
        new Proxy(new CircuitBreaker({ name: 'x', clock }), {
          get(t, key, receiver) {
            if (key === 'name') throw new Error('name trap');
            return Reflect.get(t, key, receiver);
          },
        }),
    ),
    oddValue,
  );
  type OptionsForm =
    | { form: 'none' }
    | { form: 'record'; fields: Record<string, unknown> }
    | { form: 'getter'; key: string }
    | { form: 'odd'; value: unknown };
  const optionsValue = fc.oneof(
    fc.constant<OptionsForm>({ form: 'none' }),
    fc
      .record(
        {
          critical: fc.oneof(fc.boolean(), oddValue),
          name: fc.oneof(fc.constantFrom('custom', ''), oddValue),
          timeout: fc.oneof(fc.constantFrom(1, 100, 0), oddValue),
        },
        { requiredKeys: [] },
      )
      .map((fields): OptionsForm => ({ form: 'record', fields })),
    fc.constantFrom('critical', 'name', 'timeout').map((key): OptionsForm => ({ form: 'getter', key })),
    oddValue.map((value): OptionsForm => ({ form: 'odd', value })),
  );
  function optionsOf(o: OptionsForm): unknown {
    switch (o.form) {
      case 'none':
        return undefined;
      case 'record':
        return Object.fromEntries(Object.entries(o.fields).map(([k, value]) => [k, real(value)]));
      case 'getter':
        return throwingGetter(o.key);
      case 'odd':
        return real(o.value);
    }
  }
  const checkValue = fc.oneof(
    fc.constant(() => true),
    oddValue,
  );

  it('registers, or throws a TypeError/RangeError and leaves the monitor as it was', async () => {
    await fc.assert(
      fc.asyncProperty(target, checkValue, optionsValue, async (rawTarget, rawCheck, rawOptions) => {
        const t = real(rawTarget);
        const check = real(rawCheck);
        const options = optionsOf(rawOptions);
        const watched = new CircuitBreaker({ name: 'watched', clock });
        const health = new HealthMonitor({ clock }).register(watched, { critical: true });
        const before = await stateOf(health, watched);
        const breakerBefore = isBreaker(t) ? t.listenerCount('stateChanged') : 0;
        try {
          if (typeof t === 'string') health.register(t, check as never, options as never);
          else health.register(t as never, options as never);
        } catch (error) {
          expectNamed(error, ['register', 'critical', 'name', 'timeout', 'check']);
          expect(await stateOf(health, watched)).toEqual(before);
          if (isBreaker(t)) expect(t.listenerCount('stateChanged')).toBe(breakerBefore);
          return;
        }
        const after = await stateOf(health, watched);
        expect(after.components).toHaveLength(before.components.length + 1);
        if (isBreaker(t)) expect(t.listenerCount('stateChanged')).toBe(breakerBefore + 1);
        const added = after.components.at(-1)!;
        const critical =
          typeof options === 'object' &&
          options !== null &&
          (options as { critical?: unknown }).critical === true;
        expect(added.endsWith(`:${critical}`)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it.each<[string, () => unknown[], RegExp]>([
    ['a null check', () => ['x', null], /^check must be a function, got null$/],
    [
      'null options for a check',
      () => ['x', () => true, null],
      /^register options must be an object, got null$/,
    ],
    [
      'null options for a breaker',
      () => [new CircuitBreaker({ clock }), null],
      /^register options must be an object, got null$/,
    ],
    ['a null name', () => ['x', () => true, { name: null }], /^name must be a non-empty string, got null$/],
    [
      'a null critical',
      () => ['x', () => true, { critical: null }],
      /^critical must be a boolean, got null$/,
    ],
    [
      'a NaN timeout',
      () => ['x', () => true, { timeout: Number.NaN }],
      /^timeout must be a finite number of ms/,
    ],
    [
      'a null timeout',
      () => ['x', () => true, { timeout: null }],
      /^timeout must be a number of ms .*got null$/,
    ],
    [
      'a timeout for a breaker',
      () => [new CircuitBreaker({ clock }), { timeout: 5 }],
      /^timeout applies to custom checks only, got 5/,
    ],
    ['a revoked Proxy as the check', () => ['x', revoked()], /^check must be a function, got an object/],
    ['a revoked Proxy as the target', () => [revoked()], /^register: could not tell what/],
    ['a Proxy whose traps throw as the target', () => [throwingTraps()], /^register: could not tell what/],
    [
      'a throwing getter',
      () => ['x', () => true, throwingGetter('name')],
      /^register options: reading name threw$/,
    ],
    ['an unknown option', () => ['x', () => true, { critcal: true }], /unknown option "critcal"/],
  ])('names the problem for %s', (_label, args, message) => {
    const health = new HealthMonitor({ clock });
    expect(() => (health.register as (...a: unknown[]) => unknown)(...args())).toThrow(message);
  });

  it('counts a proxied breaker whose state cannot be read as unhealthy, and keeps reporting', async () => {
    const breaker = new CircuitBreaker({ name: 'hostile', clock });
    let hostile = false;
    const proxy = new Proxy(breaker, {
      get(t, key, receiver) {
        if (hostile && key === 'state') throw new Error('state trap');
        return Reflect.get(t, key, receiver);
      },
    });
    const health = new HealthMonitor({ clock }).register(proxy, { critical: true });
    hostile = true;
    const report = await health.check();
    expect(report.status).toBe('unhealthy');
    expect(report.components[0]).toMatchObject({ name: 'hostile', status: 'unhealthy' });
  });
});
