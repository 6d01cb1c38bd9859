import {
  bw,
  check,
  cockatiel,
  idle,
  ignoresSignal,
  Opossum,
  plainAwait,
  pRetry,
  readsSignal,
  work,
} from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

export const retrySuccess: RatioCase = {
  kind: 'ratio',
  id: 'retry-success',
  title: 'Retry, first attempt succeeds',
  baselineLabel: '`await work(signal)`, the same call without a retry',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = bw.retry({ retries: 3 });
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const policy = cockatiel.retry(cockatiel.handleAll, {
          maxAttempts: 3,
          backoff: new cockatiel.ExponentialBackoff(),
        });
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
    {
      name: 'p-retry',
      setup: async () => {
        // p-retry hands the function the attempt number; the caller's signal is the function's own.
        const fn = () => work(idle);
        check((await pRetry(fn, { retries: 3 })) === 1, 'returns the result');
        return { op: () => pRetry(fn, { retries: 3 }) };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 2, source: 'earlier' }],
  reference: {
    breakwater: { independent: '2.0x', previous: '1.45x' },
    cockatiel: { independent: '3.4x', previous: '2.31x' },
    'p-retry': { independent: '267x', previous: '120.28x' },
  },
};

const composedBreakwater = () =>
  bw.pipeline(bw.retry({ retries: 3 }), new bw.CircuitBreaker(), bw.timeout(1_000));

export const composed: RatioCase = {
  kind: 'ratio',
  id: 'composed',
  title: 'retry + breaker + timeout composed, success',
  baselineLabel: '`await work(signal)`, the same call without policies',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const policy = composedBreakwater();
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
    {
      name: 'breakwater, fn ignores ctx.signal',
      setup: async () => {
        const policy = composedBreakwater();
        check((await policy.execute(ignoresSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(ignoresSignal) };
      },
    },
    {
      name: 'breakwater, caller passes a signal',
      setup: async () => {
        const policy = composedBreakwater();
        const options = { signal: new AbortController().signal };
        check((await policy.execute(readsSignal, options)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal, options) };
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
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        // opossum has a breaker with a built-in timeout but no retry: p-retry around it. Its
        // timeout aborts the AbortController it was given, which the function reads.
        const abortController = new AbortController();
        const breaker = new Opossum(() => work(abortController.signal), { timeout: 1_000, abortController });
        const fn = () => breaker.fire();
        check((await pRetry(fn, { retries: 3 })) === 1, 'returns the result');
        return { op: () => pRetry(fn, { retries: 3 }), verify: () => check(breaker.closed, 'closed') };
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
        check((await policy.execute(readsSignal)) === 1, 'returns the result');
        return { op: () => policy.execute(readsSignal) };
      },
    },
  ],
  targets: [
    { row: 'breakwater', ratio: 15, source: 'issue 15' },
    { row: 'breakwater, fn ignores ctx.signal', ratio: 10, source: 'issue 15' },
  ],
  reference: {
    breakwater: { previous: '51.18x' },
    'breakwater, fn ignores ctx.signal': { independent: '21x (1.08 µs)', previous: '6.80x (0.70 µs)' },
    'breakwater, fallback outermost (4 policies)': { previous: '7.47x' },
    opossum: { independent: '289x', previous: '131.95x' },
    cockatiel: { independent: '205-300x', previous: '166.53x' },
  },
  note:
    "breakwater builds a call's AbortSignal only when the function reads `ctx.signal`: the first row reads " +
    'it (as the README tells users to), the second does not. opossum: its breaker (with its own timeout) inside p-retry.',
};
