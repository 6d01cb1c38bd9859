import { describe, expect, it } from 'vitest';
import { fallback, pipeline } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

const fail = (): never => {
  throw new Error('down');
};

describe('fallback: options', () => {
  it('names the policy in the error for an unknown option', () => {
    expect(() => fallback('x', { nmae: 'orders' } as never)).toThrow(
      /^fallback: unknown option "nmae"; known options are name, shouldFallback, staleIfError, clock$/,
    );
  });
});

describe('fallback: staleIfError default key', () => {
  it('a call without a key and a call with the key "" share one entry', async () => {
    const clock = new ManualClock();
    const policy = fallback('default', { clock, staleIfError: { maxAge: 1_000 } });
    await policy.execute(() => 'keyless');
    await expect(policy.execute(fail, { key: '' })).resolves.toBe('keyless');
    await policy.execute(() => 'empty key', { key: '' });
    await expect(policy.execute(fail)).resolves.toBe('empty key');
    expect(policy.cachedEntries).toBe(1);
  });
});

describe('fallback: clock from a pipeline', () => {
  it('ages staleIfError entries on the clock a pipeline hands it', async () => {
    const clock = new ManualClock();
    const policy = fallback('default', { staleIfError: { maxAge: 1_000 } });
    const p = pipeline({ clock }, policy);
    await p.execute(() => 'fresh');
    clock.advance(1_000);
    await expect(p.execute(fail)).resolves.toBe('fresh');
    await p.execute(() => 'fresh again');
    clock.advance(1_001);
    await expect(p.execute(fail)).resolves.toBe('default');
  });

  it('keeps its own clock rather than the pipeline’s', async () => {
    const own = new ManualClock();
    const other = new ManualClock();
    const policy = fallback('default', { clock: own, staleIfError: { maxAge: 1_000 } });
    const p = pipeline({ clock: other }, policy);
    await p.execute(() => 'fresh');
    other.advance(5_000);
    await expect(p.execute(fail)).resolves.toBe('fresh');
    own.advance(1_001);
    await expect(p.execute(fail)).resolves.toBe('default');
  });
});
