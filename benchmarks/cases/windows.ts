import { bw, check, cockatiel, ok, plainAwait } from '../lib/libraries.js';
import type { Contender, RatioCase } from '../lib/types.js';

function breakwaterWindow(label: string, window: import('breakwater').WindowOptions): Contender {
  return {
    name: `breakwater ${label}`,
    setup: async () => {
      const breaker = new bw.CircuitBreaker({ failureRateThreshold: 0.5, window, minimumCalls: 10 });
      for (let i = 0; i < 1_000; i++) await breaker.execute(ok);
      check(breaker.state === 'closed', 'closed');
      return async () => {
        await breaker.execute(ok);
      };
    },
  };
}

function cockatielCount(size: number): Contender {
  return {
    name: `cockatiel count ${size.toLocaleString('en')}`,
    setup: async () => {
      const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
        halfOpenAfter: 30_000,
        breaker: new cockatiel.CountBreaker({ threshold: 0.5, size, minimumNumberOfCalls: 10 }),
      });
      return async () => {
        await breaker.execute(ok);
      };
    },
  };
}

export const windows: RatioCase = {
  kind: 'ratio',
  id: 'windows',
  title: 'Rate-mode windows: per-call cost by window size (must stay flat)',
  baselineLabel: '`await fn()`',
  baseline: plainAwait,
  contenders: [
    ...[100, 1_000, 100_000].map((size) =>
      breakwaterWindow(`count ${size.toLocaleString('en')}`, { type: 'count', size }),
    ),
    // Time windows of 100 / 1,000 / 100,000 buckets over 100 s.
    ...[100, 1_000, 100_000].map((buckets) =>
      breakwaterWindow(`time ${buckets.toLocaleString('en')} buckets`, {
        type: 'time',
        duration: 100_000,
        buckets,
      }),
    ),
    ...[100, 1_000, 100_000].map(cockatielCount),
  ],
};
