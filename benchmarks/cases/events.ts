import { Registry } from 'prom-client';
import { bw, bwPrometheus, check, cockatiel, Opossum, ok, plainAwait } from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

export const events: RatioCase = {
  kind: 'ratio',
  id: 'events',
  title: 'Event cost on the success path',
  baselineLabel: '`await fn()`',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater, no listener',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
    {
      name: 'breakwater, one listener',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        let seen = 0;
        breaker.on('succeeded', () => seen++);
        await breaker.execute(ok);
        check(seen === 1, 'the listener sees the call');
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
    {
      name: 'breakwater, Prometheus adapter',
      setup: async () => {
        const breaker = new bw.CircuitBreaker({ name: 'bench' });
        const registry = new Registry();
        bwPrometheus.instrument(breaker, { registry });
        await breaker.execute(ok);
        check(
          /breakwater_calls_total\{name="bench",policy="circuit-breaker",outcome="success"\} 1/.test(
            await registry.metrics(),
          ),
          'the adapter counts the call',
        );
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
    {
      name: 'opossum, one listener',
      setup: async () => {
        const breaker = new Opossum(ok, { timeout: false });
        let seen = 0;
        breaker.on('success', () => seen++);
        await breaker.fire();
        check(seen === 1, 'the listener sees the call');
        return async () => {
          await breaker.fire();
        };
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
        await breaker.execute(ok);
        check(seen === 1, 'the listener sees the call');
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
  ],
};
