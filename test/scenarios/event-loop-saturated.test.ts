import { describe, expect, it } from 'vitest';
import { CircuitBreaker, isTimeoutError, pipeline, timeout } from '../../src/index.js';

/** Holds the event loop, as a CPU-bound handler or a long synchronous JSON.parse would. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

// Real timers: the point is how they behave when the loop cannot run them on time.
describe('an event loop saturated mid-traffic', () => {
  it('delays calls without failing them: answers that were due first still win over their timeouts', async () => {
    const before = timeouts();
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    const policy = pipeline(breaker, timeout({ ms: 50, strategy: 'aggressive' }));
    const answer = () => new Promise<number>((resolve) => setTimeout(() => resolve(1), 10));
    const calls = Array.from({ length: 100 }, () => policy.execute(answer));
    blockFor(200); // every answer and every deadline is overdue when the loop gets back
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(100);
    expect(breaker.state).toBe('closed');
    expect(timeouts()).toBe(before);
  });

  it('still times out calls whose answers come later than their deadline, and opens the breaker', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3 });
    const policy = pipeline(breaker, timeout({ ms: 50, strategy: 'aggressive' }));
    const slow = () => new Promise<number>((resolve) => setTimeout(() => resolve(1), 500));
    const calls = Array.from({ length: 10 }, () => policy.execute(slow));
    blockFor(200);
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.every((o) => o.status === 'rejected' && isTimeoutError(o.reason))).toBe(true);
    expect(breaker.state).toBe('open');
  });
});
