import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import { ManualClock } from '../../src/testing/index.js';

const boom = new Error('boom');
const fail = () => Promise.reject(boom);
const ok = () => 'ok';
const settle = (p: Promise<unknown>) =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

describe('CircuitBreaker.configure', () => {
  it('raising failureThreshold after two failures opens on the fifth failure in a row (counts kept)', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, clock: new ManualClock() });
    await settle(breaker.execute(fail));
    await settle(breaker.execute(fail));
    breaker.configure({ failureThreshold: 5 });
    await settle(breaker.execute(fail));
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('closed');
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
  });

  it('resetCounts forgets the failures counted so far, and keeps the state', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, clock: new ManualClock() });
    await settle(breaker.execute(fail));
    await settle(breaker.execute(fail));
    breaker.configure({ resetCounts: true });
    await settle(breaker.execute(fail));
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('closed');
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
  });

  it('an open circuit keeps its openUntil; the new openTimeout applies from the next opening', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, openTimeout: 1_000, clock });
    await settle(breaker.execute(fail));
    breaker.configure({ openTimeout: 60_000 });
    expect(breaker.retryAfter).toBe(1_000);
    clock.advance(1_000);
    expect(await settle(breaker.execute(fail))).toBe(boom); // the probe fails: opens again
    expect(breaker.retryAfter).toBe(60_000);
  });

  it('an invalid setting throws the constructor message and changes nothing', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, openTimeout: 5, clock });
    expect(() => breaker.configure({ failureThreshold: 0, openTimeout: 50 })).toThrow(
      'failureThreshold must be an integer >= 1, got 0',
    );
    await settle(breaker.execute(fail));
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfter).toBe(5); // not 50
    expect(() => breaker.configure({ name: 'x' } as never)).toThrow(/configure: unknown option "name"/);
    expect(() => breaker.configure({ resetCounts: 'yes' } as never)).toThrow(/resetCounts must be a boolean/);
    expect(() => breaker.configure({ minimumCalls: 5 })).toThrow(/minimumCalls needs failureRateThreshold/);
  });

  it('a rate window of the same size keeps its calls; another size starts empty', async () => {
    const clock = new ManualClock();
    const options = {
      failureRateThreshold: 0.5,
      window: { type: 'count', size: 4 },
      minimumCalls: 4,
      clock,
    } as const;
    const kept = new CircuitBreaker(options);
    const fresh = new CircuitBreaker(options);
    for (const b of [kept, fresh]) {
      await settle(b.execute(fail));
      await settle(b.execute(ok));
      await settle(b.execute(fail));
    }
    kept.configure({ failureRateThreshold: 0.75 });
    fresh.configure({ window: { type: 'count', size: 5 } });
    for (const b of [kept, fresh]) await settle(b.execute(fail));
    expect(kept.state).toBe('open'); // 3 of 4 failed >= 0.75
    expect(fresh.state).toBe('closed'); // 1 call in the new window: below minimumCalls
  });

  it('setting an option to undefined returns it to its default, and `configured` names what changed', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, clock: new ManualClock() });
    const events: unknown[] = [];
    breaker.on('configured', (e) => events.push(e));
    breaker.configure({ failureThreshold: undefined, successThreshold: 2 });
    expect(events).toEqual([{ changed: ['failureThreshold', 'successThreshold'], resetCounts: false }]);
    for (let i = 0; i < 4; i++) await settle(breaker.execute(fail));
    expect(breaker.state).toBe('closed'); // the default threshold is 5
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
  });

  it('switching to rate mode builds the window the constructor would', async () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock() });
    breaker.configure({ failureRateThreshold: 1, window: { type: 'count', size: 2 } });
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('closed');
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
  });
});
