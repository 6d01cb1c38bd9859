import { describe, expectTypeOf, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  fallback,
  type Policy,
  pipeline,
  retry,
  timeout,
} from '../../src/index.js';

describe('pipeline types', () => {
  it('keeps the result type of the function through policies that add nothing', () => {
    const p = pipeline(retry(), new CircuitBreaker(), timeout(10), bulkhead({ maxConcurrent: 1 }));
    expectTypeOf(p.execute(async () => 42)).toEqualTypeOf<Promise<number>>();
  });

  it('widens the result with what a fallback may answer instead', () => {
    const p = pipeline(fallback('cached' as const), retry());
    expectTypeOf(p.execute(async () => 42)).toEqualTypeOf<Promise<number | 'cached'>>();
    const nested = pipeline(
      pipeline(
        fallback(() => null),
        timeout(5),
      ),
      retry(),
    );
    expectTypeOf(nested.execute(async () => 'x')).toEqualTypeOf<Promise<string | null>>();
  });
});

describe('ExtraOf', () => {
  it('adds nothing for a hand-written object typed Policy', () => {
    const custom: Policy = {
      execute: (fn) =>
        Promise.resolve(
          fn({ signal: new AbortController().signal, attempt: 0, key: undefined, priority: 'normal' }),
        ),
    };
    expectTypeOf(pipeline(custom, retry()).execute(async () => 1)).toEqualTypeOf<Promise<number>>();
  });
});
