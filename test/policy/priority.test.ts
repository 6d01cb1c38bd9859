import { describe, expect, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  type ExecuteContext,
  fallback,
  isPriority,
  PRIORITIES,
  pipeline,
  retry,
  timeout,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

describe('priority', () => {
  it('defaults to normal', async () => {
    const seen = await new CircuitBreaker().execute((ctx) => ctx.priority);
    expect(seen).toBe('normal');
  });

  it('travels through every policy of a pipeline, retries included', async () => {
    const clock = new ManualClock();
    const seen: ExecuteContext['priority'][] = [];
    const policy = pipeline(
      { clock },
      fallback(() => 'fallback'),
      retry({ retries: 1, backoff: () => 0 }),
      timeout(1000),
      bulkhead({ maxConcurrent: 2 }),
      new CircuitBreaker(),
    );
    for (const priority of PRIORITIES) {
      let attempts = 0;
      await policy.execute(
        (ctx) => {
          seen.push(ctx.priority);
          if (attempts++ === 0) throw new Error('once');
          return 'ok';
        },
        { priority },
      );
    }
    expect(seen).toEqual(PRIORITIES.flatMap((p) => [p, p]));
  });

  it.each(['urgent', '', 0, null])(
    'rejects %j as a TypeError naming priority, without running the call',
    async (bad) => {
      let ran = false;
      const result = new CircuitBreaker().execute(
        () => {
          ran = true;
        },
        { priority: bad as never },
      );
      await expect(result).rejects.toThrow(TypeError);
      await expect(result).rejects.toThrow(/priority must be one of critical, high, normal, low, background/);
      expect(ran).toBe(false);
    },
  );

  it('reports a getter that throws as unreadable priority', async () => {
    const options = {
      get priority(): never {
        throw new Error('boom');
      },
    };
    await expect(timeout(10).execute(() => 1, options)).rejects.toThrow(
      /execute options.priority could not be read/,
    );
  });

  it('isPriority knows exactly the five names', () => {
    expect(PRIORITIES.filter(isPriority)).toEqual(['critical', 'high', 'normal', 'low', 'background']);
    expect(isPriority('toString')).toBe(false);
    expect(isPriority('NORMAL')).toBe(false);
  });
});
