import { bw, check, cockatiel, plainAwait, readsSignal } from '../lib/libraries.js';
import type { Contender, RatioCase } from '../lib/types.js';

function breakwaterWindow(label: string, window: import('breakwater').WindowOptions): Contender {
  return {
    name: `breakwater ${label}`,
    setup: async () => {
      const breaker = new bw.CircuitBreaker({ failureRateThreshold: 0.5, window, minimumCalls: 10 });
      for (let i = 0; i < 1_000; i++) await breaker.execute(readsSignal);
      check(breaker.state === 'closed', 'closed');
      return { op: () => breaker.execute(readsSignal) };
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
      return { op: () => breaker.execute(readsSignal) };
    },
  };
}

export const windows: RatioCase = {
  kind: 'ratio',
  id: 'windows',
  title: 'Rate-mode windows: per-call cost by window size (must stay flat)',
  baselineLabel: '`await work(signal)`, the same call without a breaker',
  baseline: plainAwait,
  contenders: [
    ...[100, 1_000, 100_000].map((size) =>
      breakwaterWindow(`count ${size.toLocaleString('en')}`, { type: 'count', size }),
    ),
    // Time windows of 10 / 100 / 1,000 buckets (the most the options allow) over 100 s.
    ...[10, 100, 1_000].map((buckets) =>
      breakwaterWindow(`time ${buckets.toLocaleString('en')} buckets`, {
        type: 'time',
        duration: 100_000,
        buckets,
      }),
    ),
    ...[100, 1_000, 100_000].map(cockatielCount),
  ],
  reference: {
    'breakwater count 100': { previous: '1.40x' },
    'breakwater count 1,000': { previous: '1.41x' },
    'breakwater count 100,000': { previous: '1.38x' },
    'breakwater time 100 buckets': { previous: '2.23x' },
    'breakwater time 1,000 buckets': { previous: '2.27x' },
    'cockatiel count 100': { previous: '2.11x' },
    'cockatiel count 1,000': { previous: '2.03x' },
    'cockatiel count 100,000': { previous: '2.17x' },
  },
};
