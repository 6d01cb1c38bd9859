import { Registry } from 'prom-client';
import {
  bw,
  bwPrometheus,
  check,
  cockatiel,
  idle,
  Opossum,
  plainAwait,
  readsSignal,
  work,
} from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

export const events: RatioCase = {
  kind: 'ratio',
  id: 'events',
  title: 'Event cost on the success path',
  baselineLabel: '`await work(signal)`, the same call without a breaker',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater, no listener',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        return { op: () => breaker.execute(readsSignal) };
      },
    },
    {
      name: 'breakwater, one listener',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        let seen = 0;
        breaker.on('succeeded', () => seen++);
        await breaker.execute(readsSignal);
        check(seen === 1, 'the listener sees the call');
        return { op: () => breaker.execute(readsSignal) };
      },
    },
    {
      name: 'breakwater, Prometheus adapter',
      setup: async () => {
        const breaker = new bw.CircuitBreaker({ name: 'bench' });
        const registry = new Registry();
        bwPrometheus.instrument(breaker, { registry });
        await breaker.execute(readsSignal);
        check(
          /breakwater_calls_total\{name="bench",policy="circuit-breaker",outcome="success"\} 1/.test(
            await registry.metrics(),
          ),
          'the adapter counts the call',
        );
        return { op: () => breaker.execute(readsSignal) };
      },
    },
    {
      name: 'opossum, one listener',
      setup: async () => {
        const breaker = new Opossum((signal: AbortSignal) => work(signal), { timeout: false });
        let seen = 0;
        breaker.on('success', () => seen++);
        await breaker.fire(idle);
        check(seen === 1, 'the listener sees the call');
        return { op: () => breaker.fire(idle) };
      },
    },
    {
      name: 'cockatiel, one listener',
      setup: async () => {
        const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
          halfOpenAfter: 30_000,
          breaker: new cockatiel.ConsecutiveBreaker(5),
        });
        let seen = 0;
        breaker.onSuccess(() => seen++);
        await breaker.execute(readsSignal);
        check(seen === 1, 'the listener sees the call');
        return { op: () => breaker.execute(readsSignal) };
      },
    },
  ],
  reference: {
    'breakwater, no listener': { previous: '1.24x' },
    'breakwater, one listener': { previous: '2.94x' },
    'breakwater, Prometheus adapter': { previous: '7.68x' },
    'opossum, one listener': { previous: '5.58x' },
    'cockatiel, one listener': { previous: '3.20x' },
  },
};
