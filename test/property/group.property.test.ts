import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import { BrokenCircuitError } from '../../src/errors.js';
import { CircuitBreakerGroup } from '../../src/group/index.js';
import { ManualClock } from '../../src/testing/index.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f'];

type Op =
  | { readonly t: 'get' | 'fail' | 'succeed' | 'delete'; readonly k: string }
  | { readonly t: 'advance'; readonly ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    t: fc.constantFrom('get', 'fail', 'succeed', 'delete'),
    k: fc.constantFrom(...KEYS),
  }) as fc.Arbitrary<Op>,
  fc.record({ t: fc.constant('advance'), ms: fc.integer({ min: 0, max: 400 }) }) as fc.Arbitrary<Op>,
);

const configArb = fc.record({
  maxSize: fc.integer({ min: 1, max: 5 }),
  idleTimeout: fc.constantFrom(50, 200, 1_000, Number.POSITIVE_INFINITY),
  maxRemembered: fc.constantFrom(0, 1, 3, Number.POSITIVE_INFINITY),
  failureThreshold: fc.integer({ min: 1, max: 2 }),
  openTimeout: fc.integer({ min: 1, max: 600 }),
});

const boom = new Error('boom');

describe('CircuitBreakerGroup against a model', () => {
  it('bounds its size, keeps one breaker per key until evicted, and keeps evicted open breakers open until openUntil', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(opArb, { maxLength: 60 }), async (config, ops) => {
        const clock = new ManualClock();
        const g = new CircuitBreakerGroup({
          clock,
          maxSize: config.maxSize,
          idleTimeout: config.idleTimeout,
          maxRemembered: config.maxRemembered,
          create: () => ({ failureThreshold: config.failureThreshold, openTimeout: config.openTimeout }),
        });
        /** The breaker last seen for a key, until an `evicted` event for it. */
        const seen = new Map<string, CircuitBreaker>();
        /** openUntil of keys last seen open, until the time passes, or the key is deleted or forgotten. */
        const openUntil = new Map<string, number>();
        g.on('evicted', ({ key }) => seen.delete(key));
        /** Keys forgotten (remembered state dropped, with the event) during the current op. */
        const forgotten = new Set<string>();
        g.on('forgotten', ({ key }) => {
          openUntil.delete(key);
          forgotten.add(key);
        });

        for (const op of ops) {
          if (op.t === 'advance') {
            clock.advance(op.ms);
          } else if (op.t === 'delete') {
            g.delete(op.k);
            openUntil.delete(op.k);
          } else {
            const k = op.k;
            forgotten.clear();
            const until = openUntil.get(k);
            const openBefore = until !== undefined && clock.now() < until;
            if (until !== undefined && !openBefore) openUntil.delete(k); // now a probe may run
            let ran = false;
            if (op.t === 'get') {
              const b = g.get(k);
              const before = seen.get(k);
              if (before !== undefined) expect(b).toBe(before);
            } else {
              const fn = () => {
                ran = true;
                return op.t === 'fail' ? Promise.reject(boom) : 'ok';
              };
              const outcome = await g.execute(k, fn).catch((e: unknown) => e);
              if (openBefore && !forgotten.has(k)) expect(outcome).toBeInstanceOf(BrokenCircuitError);
            }
            // Only a `forgotten` event (no room left to remember it) lets an open breaker go early.
            const mustStayOpen = openBefore && !forgotten.has(k);
            const b = g.peek(k);
            expect(b).toBeDefined();
            if (mustStayOpen) {
              expect(ran).toBe(false);
              expect(b!.state).toBe('open');
              expect(b!.snapshot().openUntil).toBe(until);
            }
            if (b!.state === 'open') openUntil.set(k, b!.snapshot().openUntil!);
            const known = seen.get(k);
            if (known !== undefined) expect(b).toBe(known);
            seen.set(k, b!);
          }
          expect(g.size).toBeLessThanOrEqual(config.maxSize);
          expect(g.rememberedSize).toBeLessThanOrEqual(config.maxRemembered);
        }
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
