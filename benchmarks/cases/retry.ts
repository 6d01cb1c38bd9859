import { bw, check, cockatiel, Opossum, ok, plainAwait, pRetry } from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

export const retrySuccess: RatioCase = {
  kind: 'ratio',
  id: 'retry-success',
  title: 'Retry, first attempt succeeds',
  baselineLabel: '`await fn()`',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = bw.retry({ retries: 3 });
        check((await policy.execute(ok)) === 1, 'returns the result');
        return async () => {
          await policy.execute(ok);
        };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const policy = cockatiel.retry(cockatiel.handleAll, {
          maxAttempts: 3,
          backoff: new cockatiel.ExponentialBackoff(),
        });
        check((await policy.execute(ok)) === 1, 'returns the result');
        return async () => {
          await policy.execute(ok);
        };
      },
    },
    {
      name: 'p-retry',
      setup: async () => {
        check((await pRetry(ok, { retries: 3 })) === 1, 'returns the result');
        return async () => {
          await pRetry(ok, { retries: 3 });
        };
      },
    },
  ],
  target: { ratio: 2 },
};

export const composed: RatioCase = {
  kind: 'ratio',
  id: 'composed',
  title: 'retry + breaker + timeout composed, success',
  baselineLabel: '`await fn()`',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = bw.pipeline(bw.retry({ retries: 3 }), new bw.CircuitBreaker(), bw.timeout(1_000));
        check((await policy.execute(ok)) === 1, 'returns the result');
        return async () => {
          await policy.execute(ok);
        };
      },
    },
    {
      name: 'breakwater, fallback outermost (4 policies)',
      setup: async () => {
        const policy = bw.pipeline(
          bw.fallback(0),
          bw.retry({ retries: 3 }),
          new bw.CircuitBreaker(),
          bw.timeout(1_000),
        );
        check((await policy.execute(ok)) === 1, 'returns the result');
        return async () => {
          await policy.execute(ok);
        };
      },
    },
    {
      name: 'breakwater (fn reads signal)',
      setup: async () => {
        const policy = bw.pipeline(bw.retry({ retries: 3 }), new bw.CircuitBreaker(), bw.timeout(1_000));
        const fn = ({ signal }: { signal: AbortSignal }) =>
          signal.aborted ? Promise.reject(signal.reason) : ok();
        check((await policy.execute(fn)) === 1, 'returns the result');
        return async () => {
          await policy.execute(fn);
        };
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        // opossum has a breaker with a built-in timeout but no retry: p-retry around it.
        const breaker = new Opossum(ok, { timeout: 1_000 });
        check((await pRetry(() => breaker.fire(), { retries: 3 })) === 1, 'returns the result');
        return async () => {
          await pRetry(() => breaker.fire(), { retries: 3 });
        };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const policy = cockatiel.wrap(
          cockatiel.retry(cockatiel.handleAll, { maxAttempts: 3 }),
          cockatiel.circuitBreaker(cockatiel.handleAll, {
            halfOpenAfter: 30_000,
            breaker: new cockatiel.ConsecutiveBreaker(5),
          }),
          cockatiel.timeout(1_000, cockatiel.TimeoutStrategy.Cooperative),
        );
        check((await policy.execute(ok)) === 1, 'returns the result');
        return async () => {
          await policy.execute(ok);
        };
      },
    },
  ],
  target: { ratio: 15 },
  note: "opossum: its breaker (with its own timeout) inside p-retry. breakwater builds a call's AbortSignal only when the function reads it; the second row reads it.",
};
