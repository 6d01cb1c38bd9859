import { describe, expect, it } from 'vitest';
import { CircuitBreaker, exponential, fallback, pipeline, retry, timeout } from '../src/index.js';

// The README's Quick Start, word for word but for the database, on the system clock as a user runs it.
function quickStart() {
  const breaker = new CircuitBreaker({ name: 'orders-db', failureThreshold: 5, openTimeout: 30_000 });
  const policy = pipeline(
    fallback(() => []),
    retry({
      retries: 3,
      backoff: exponential({ initial: 100, max: 5_000, jitter: 'decorrelated' }),
      maxElapsed: 2_000,
    }),
    breaker,
    timeout(2_000),
  );
  return { breaker, policy };
}

describe('the Quick Start against a dependency that always fails', () => {
  it('answers its fallback within 100 ms once the circuit is open, without calling the dependency', async () => {
    const { breaker, policy } = quickStart();
    let calls = 0;
    const alwaysFails = async (_: { signal: AbortSignal }): Promise<string[]> => {
      calls++;
      throw new Error('connection refused');
    };
    // Requests until the breaker opens; the one it opens in must end at once too.
    while (breaker.state !== 'open') {
      await expect(policy.execute(alwaysFails)).resolves.toEqual([]);
    }
    expect(calls).toBe(5);
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await expect(policy.execute(alwaysFails)).resolves.toEqual([]);
      expect(performance.now() - started).toBeLessThan(100);
    }
    expect(calls).toBe(5);
  });
});
