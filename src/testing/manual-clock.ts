import type { Clock, TimerHandle } from '../clock.js';
import * as v from '../validate.js';

interface Timer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cleared: boolean;
}

/**
 * A {@link Clock} that moves only when told to, for tests that must not sleep.
 * `advance(ms)` runs every timer that falls due, in order of due time, synchronously.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const breaker = new CircuitBreaker({ clock, openTimeout: 1_000 });
 * // ... trip it ...
 * clock.advance(1_000); // the next call is a probe
 * ```
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  /** @param start the time `now()` reads before any `advance` (default 0). */
  constructor(start = 0) {
    this.time = v.finite('start', start, Number.NEGATIVE_INFINITY);
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    v.func('callback', callback);
    if (typeof ms !== 'number' || Number.isNaN(ms))
      throw new TypeError(`ms must be a number, got ${v.show(ms)}`);
    const timer: Timer = { due: this.time + Math.max(0, ms), seq: this.seq++, callback, cleared: false };
    this.timers.push(timer);
    return {
      clear: () => {
        timer.cleared = true;
      },
    };
  }

  /** Timers set and not yet run or cleared. A settled call must leave none behind. */
  get pendingTimers(): number {
    let n = 0;
    for (const t of this.timers) if (!t.cleared) n++;
    return n;
  }

  /** Moves time forward by `ms`, running each timer that falls due on the way, in order. */
  advance(ms: number): void {
    v.finite('ms', ms, 0);
    const target = this.time + ms;
    for (let timer = this.nextDue(target); timer !== undefined; timer = this.nextDue(target)) {
      this.time = Math.max(this.time, timer.due);
      timer.cleared = true;
      timer.callback();
    }
    this.time = target;
    this.timers = this.timers.filter((t) => !t.cleared);
  }

  /**
   * Like {@link advance}, but lets pending promise callbacks run before each timer and
   * after the last, so code that awaits between timers (a retry loop) keeps up.
   */
  async advanceAsync(ms: number): Promise<void> {
    v.finite('ms', ms, 0);
    const target = this.time + ms;
    await flushPromises();
    for (let timer = this.nextDue(target); timer !== undefined; timer = this.nextDue(target)) {
      this.time = Math.max(this.time, timer.due);
      timer.cleared = true;
      timer.callback();
      await flushPromises();
    }
    this.time = target;
    this.timers = this.timers.filter((t) => !t.cleared);
    await flushPromises();
  }

  private nextDue(target: number): Timer | undefined {
    let next: Timer | undefined;
    for (const t of this.timers) {
      if (t.cleared || t.due > target) continue;
      if (next === undefined || t.due < next.due || (t.due === next.due && t.seq < next.seq)) next = t;
    }
    return next;
  }
}

/** Lets every promise callback that is ready run (a few rounds of the microtask queue and one macrotask turn). */
export async function flushPromises(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
