import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../src/index.js';

// systemClock wraps the real timers; fake global timers are the only way to test it without waiting.
describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a timer after its delay, and never once cleared', () => {
    vi.useFakeTimers();
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('a'), 100);
    const b = systemClock.setTimeout(() => fired.push('b'), 100);
    b.clear();
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
  });

  it('waits the whole of a delay longer than Node timers allow (2^31 - 1 ms)', () => {
    vi.useFakeTimers();
    const day = 86_400_000;
    let fired = false;
    systemClock.setTimeout(() => {
      fired = true;
    }, 40 * day);
    vi.advanceTimersByTime(30 * day);
    expect(fired).toBe(false);
    vi.advanceTimersByTime(10 * day);
    expect(fired).toBe(true);
  });

  it('clears a long timer at any point of its chain', () => {
    vi.useFakeTimers();
    let fired = false;
    const timer = systemClock.setTimeout(() => {
      fired = true;
    }, 2 ** 32);
    vi.advanceTimersByTime(2 ** 31);
    timer.clear();
    vi.advanceTimersByTime(2 ** 32);
    expect(fired).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('systemClock.now', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does not step back or jump when the wall clock is set', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const before = systemClock.now();
    vi.setSystemTime(Date.now() - 3_600_000);
    const afterBack = systemClock.now();
    vi.setSystemTime(Date.now() + 7_200_000);
    const afterForward = systemClock.now();
    expect(afterBack).toBeGreaterThanOrEqual(before);
    expect(afterForward - before).toBeLessThan(1_000);
  });

  it('reads milliseconds since the epoch, close to Date.now()', () => {
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(1_000);
  });
});
