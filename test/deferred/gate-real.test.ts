import { describe, expect, it } from 'vitest';
import { adaptGate } from '../../src/deferred/gate.js';
import { CircuitBreaker } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

// The breaker as the gate module reads it, checked against the real class (the shedder and the
// adaptive limit are duck-typed the same way and covered with stand-ins in queue.test.ts).
describe('adaptGate on a real CircuitBreaker', () => {
  it('reads a CircuitBreaker by its state and retryAfter, and watches stateChanged', async () => {
    const breaker = new CircuitBreaker({ clock: new ManualClock(), failureThreshold: 1, openTimeout: 1_000 });
    const gate = adaptGate(breaker, 100);
    expect(gate.event).toBe('stateChanged');
    expect(gate.read(0)).toBe(Number.POSITIVE_INFINITY);
    await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    expect(gate.read(0)).toEqual({ closedFor: 1_000 });
    breaker.isolate();
    expect(gate.read(0)).toEqual({ closedFor: Number.POSITIVE_INFINITY });
  });
});
