import { type Clock, systemClock } from '../clock.js';
import { Emitter } from '../emitter.js';
import { OverloadedError, withoutStack } from '../errors.js';
import {
  ADOPT_DEFAULTS,
  type AdoptsDefaults,
  callThrough,
  type ExecuteOptions,
  notAFunction,
  type Operation,
  type Policy,
  type PolicyDefaults,
  PRIORITIES,
  type Priority,
  ROOT,
  tryContextOf,
} from '../policy.js';
import * as v from '../validate.js';
import { type PressureProbe, type PressureReadings, subscribe, ZERO } from './sampler.js';

/** The priorities a shedder may refuse: every one but `critical`. */
export type SheddablePriority = Exclude<Priority, 'critical'>;

/** The pressure at which each priority starts to be shed (see {@link LoadShedderOptions.thresholds}). */
export type ShedThresholds = Readonly<Record<SheddablePriority, number>>;

/**
 * The default thresholds: `high` at 1.0 (a reading at its limit refuses all but critical
 * calls); `normal`, the bulk of traffic, at 0.9, so the process sheds it before reaching the
 * limit; `low` at 0.75 and `background` at 0.6, since deferrable work should make room first.
 */
export const DEFAULT_THRESHOLDS: ShedThresholds = Object.freeze({
  background: 0.6,
  low: 0.75,
  normal: 0.9,
  high: 1,
});

/** Least important first: the order in which priorities are shed. */
const SHEDDABLE: readonly SheddablePriority[] = ['background', 'low', 'normal', 'high'];

/** Options of {@link loadShedder}. At least one `max*` limit is required. */
export interface LoadShedderOptions {
  /** Names the policy in metrics and health reports. @default 'load-shedder' */
  name?: string;
  /** Event-loop delay (ms, p99 over a sample window) that counts as pressure 1. @default off */
  maxEventLoopDelay?: number;
  /** Event-loop utilization (in (0, 1]) that counts as pressure 1. @default off */
  maxEventLoopUtilization?: number;
  /** V8 heap in use (bytes) that counts as pressure 1. @default off */
  maxHeapUsedBytes?: number;
  /** Resident set size (bytes) that counts as pressure 1. @default off */
  maxRssBytes?: number;
  /**
   * ms between samples, at least 10 (the event-loop delay histogram's resolution). Shedders
   * that watch the same source share one sampler, which runs at the shortest of their intervals.
   * @default 1_000
   */
  sampleInterval?: number;
  /**
   * The pressure (highest reading/limit ratio) at which each priority starts to be shed; give
   * any of them, the others keep their defaults. They must not decrease from `background` to
   * `high`, so that a priority is never shed while a less important one is admitted.
   * `critical` is never shed.
   * @default { background: 0.6, low: 0.75, normal: 0.9, high: 1 }
   */
  thresholds?: Partial<Record<SheddablePriority, number>>;
  /**
   * How far below its threshold the pressure must fall before a shed priority is admitted
   * again, so that a reading hovering at a threshold does not flap. Must be smaller than
   * the lowest threshold.
   * @default 0.1
   */
  hysteresis?: number;
  /** `retryAfter` (ms) of the {@link OverloadedError} of a shed call. @default sampleInterval */
  retryAfter?: number;
  /**
   * Readings of your own instead of the process's (tests; a container's limits measured
   * elsewhere), called once per sample on `clock`'s timers. Without it the process is
   * sampled on real, unref'd timers, whatever the clock.
   * @default the process's own readings
   */
  probe?: PressureProbe;
  /** Drives the sampling of a `probe`. @default systemClock, or the pipeline's clock */
  clock?: Clock;
}

/** Payload of the {@link LoadShedderEvents.pressureChanged | pressureChanged} event. */
export interface PressureChangedEvent {
  /** The pressure before this sample. */
  readonly from: number;
  /** The pressure now: the highest ratio reading/limit among the configured limits. */
  readonly to: number;
  /** What was sampled. */
  readonly readings: PressureReadings;
}

/** Payload of the {@link LoadShedderEvents.shed | shed} event. */
export interface ShedEvent {
  /** The priority of the refused call. */
  readonly priority: Priority;
  /** The pressure when it was refused. */
  readonly pressure: number;
}

/** Payload of the {@link LoadShedderEvents.sheddingChanged | sheddingChanged} event. */
export interface SheddingChangedEvent {
  /** The priorities shed before, most important first. */
  readonly from: readonly Priority[];
  /** The priorities shed now, most important first (empty: every call is admitted). */
  readonly to: readonly Priority[];
  /** The pressure now. */
  readonly pressure: number;
}

/** The events of a {@link LoadShedderPolicy}, each with one payload object. */
export interface LoadShedderEvents {
  /** A sample moved the pressure; at most once per sample interval. */
  pressureChanged: [PressureChangedEvent];
  /** The set of shed priorities changed (after a sample, or on `dispose()`, which stops all shedding). */
  sheddingChanged: [SheddingChangedEvent];
  /** A call was refused with an {@link OverloadedError}, just before its promise rejects. */
  shed: [ShedEvent];
}

const OPTIONS = [
  'name',
  'maxEventLoopDelay',
  'maxEventLoopUtilization',
  'maxHeapUsedBytes',
  'maxRssBytes',
  'sampleInterval',
  'thresholds',
  'hysteresis',
  'retryAfter',
  'probe',
  'clock',
];

type Limits = readonly (readonly [keyof PressureReadings, number])[];

/** The highest ratio reading/limit. */
export function pressureOf(readings: PressureReadings, limits: Limits): number {
  let pressure = 0;
  for (const [field, limit] of limits) pressure = Math.max(pressure, readings[field] / limit);
  return pressure;
}

/**
 * Which priorities are shed after a sample: each starts at its threshold and stops below
 * its threshold minus `hysteresis`. With thresholds that do not decrease from `background`
 * to `high`, a priority is shed only while every less important one is.
 */
export function nextShedding(
  shed: Readonly<Record<Priority, boolean>>,
  pressure: number,
  thresholds: ShedThresholds,
  hysteresis: number,
): Record<Priority, boolean> {
  const next: Record<Priority, boolean> = {
    critical: false,
    high: false,
    normal: false,
    low: false,
    background: false,
  };
  for (const p of SHEDDABLE) {
    const t = thresholds[p];
    next[p] = shed[p] ? pressure >= t - hysteresis : pressure >= t;
  }
  return next;
}

const NONE: Readonly<Record<Priority, boolean>> = Object.freeze({
  critical: false,
  high: false,
  normal: false,
  low: false,
  background: false,
});

const listOf = (shed: Readonly<Record<Priority, boolean>>): readonly Priority[] =>
  Object.freeze(PRIORITIES.filter((p) => shed[p]));

/** Refuses the least important calls while the process is under pressure. See {@link loadShedder}. */
export class LoadShedderPolicy
  extends Emitter<LoadShedderEvents>
  implements Policy, AdoptsDefaults, Disposable
{
  /** Names the policy in metrics and health reports. */
  readonly name: string;
  /** ms between samples. */
  readonly sampleInterval: number;
  /** The pressure at which each priority starts to be shed. */
  readonly thresholds: ShedThresholds;
  /** How far below its threshold the pressure must fall before a shed priority is admitted again. */
  readonly hysteresis: number;
  /** `retryAfter` (ms) of a shed call's error. */
  readonly retryAfter: number;
  /** The configured limits, by reading. */
  readonly limits: Readonly<Partial<Record<keyof PressureReadings, number>>>;
  private readonly limitList: Limits;
  private readonly probe: PressureProbe | undefined;
  private clock: Clock | undefined;
  private shed: Readonly<Record<Priority, boolean>> = NONE;
  /** `shed.normal`, for the call with no options. */
  private shedNormal = false;
  private shedList: readonly Priority[] = listOf(NONE);
  private current = 0;
  private last: PressureReadings = ZERO;
  private unsubscribe: (() => void) | undefined;

  constructor(options: LoadShedderOptions) {
    super();
    const o = v.object('loadShedder options', options);
    v.knownKeys('loadShedder', o, OPTIONS);
    this.name = o.name === undefined ? 'load-shedder' : v.string('name', o.name);
    const limits: [keyof PressureReadings, number][] = [];
    const limit = (
      field: keyof PressureReadings,
      option: string,
      read: (n: string, x: unknown) => number,
    ) => {
      if (o[option] !== undefined) limits.push([field, read(option, o[option])]);
    };
    limit('eventLoopDelay', 'maxEventLoopDelay', (n, x) => positive(n, x, 'ms'));
    limit('eventLoopUtilization', 'maxEventLoopUtilization', (n, x) => v.ratio(n, x, true));
    limit('heapUsedBytes', 'maxHeapUsedBytes', (n, x) => positive(n, x, 'bytes'));
    limit('rssBytes', 'maxRssBytes', (n, x) => positive(n, x, 'bytes'));
    if (limits.length === 0) {
      throw new TypeError(
        'loadShedder: give at least one of maxEventLoopDelay, maxEventLoopUtilization, maxHeapUsedBytes, maxRssBytes',
      );
    }
    this.limitList = Object.freeze(
      limits.map((l) => Object.freeze(l) as readonly [keyof PressureReadings, number]),
    );
    this.limits = Object.freeze(Object.fromEntries(limits));
    this.sampleInterval =
      o.sampleInterval === undefined
        ? 1_000
        : v.milliseconds('sampleInterval', o.sampleInterval, 10, v.MAX_TIMER);
    this.thresholds = thresholdsOf(o.thresholds);
    this.hysteresis = o.hysteresis === undefined ? 0.1 : v.finite('hysteresis', o.hysteresis, 0);
    const lowest = Math.min(...SHEDDABLE.map((p) => this.thresholds[p]));
    if (this.hysteresis >= lowest) {
      throw new RangeError(
        `hysteresis must be smaller than the lowest threshold (${lowest}), got ${this.hysteresis}: a shed priority would never be admitted again`,
      );
    }
    this.retryAfter =
      o.retryAfter === undefined ? this.sampleInterval : v.milliseconds('retryAfter', o.retryAfter, 0);
    this.probe = o.probe === undefined ? undefined : v.func<PressureProbe>('probe', o.probe);
    this.clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
    this.start();
  }

  /** What this policy is, for adapters that walk a pipeline. */
  get kind(): 'load-shedder' {
    return 'load-shedder';
  }

  /** @internal A probe's sampling moves to the pipeline's clock when the shedder was given none. */
  [ADOPT_DEFAULTS](defaults: PolicyDefaults): void {
    if (this.clock !== undefined || defaults.clock === undefined) return;
    this.clock = defaults.clock;
    if (this.probe !== undefined && this.unsubscribe !== undefined) {
      this.unsubscribe();
      this.start();
    }
  }

  /** The highest ratio reading/limit at the last sample (0 before the first). */
  get pressure(): number {
    return this.current;
  }

  /** What the last sample read (the loop's readings are 0 until a first window has passed). */
  get readings(): PressureReadings {
    return this.last;
  }

  /** The priorities being shed now, most important first; empty when every call is admitted. */
  get shedding(): readonly Priority[] {
    return this.shedList;
  }

  /** Whether calls of `priority` are being refused now (never for `critical`). */
  isShedding(priority: Priority): boolean {
    return this.shed[priority] === true;
  }

  /** Whether {@link dispose} was called. */
  get disposed(): boolean {
    return this.unsubscribe === undefined;
  }

  /**
   * Runs `fn` unless calls of its priority (`ctx.priority`, from `execute`'s options) are
   * being shed. The decision reads the last sample: no measurement is taken per call.
   *
   * @throws {@link OverloadedError} (`reason: 'pressure'`) without calling `fn` when its priority is shed.
   * @throws the caller's `signal.reason` without calling `fn` when the signal was aborted before the call.
   * @throws whatever `fn` threw, unchanged.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(notAFunction(fn));
    // The common call (no options: a normal priority, nothing to abort) reads one boolean.
    if (options === undefined) {
      return this.shedNormal ? Promise.reject(this.rejection('normal')) : callThrough(fn, ROOT);
    }
    const context = tryContextOf(options);
    if (context instanceof TypeError) return Promise.reject(context);
    if (context.abortable && context.aborted) return Promise.reject(context.signal.reason);
    if (this.shed[context.priority]) return Promise.reject(this.rejection(context.priority));
    return callThrough(fn, context);
  }

  /**
   * Stops watching: the last shedder of a sampler stops it (its timer and the event-loop
   * histogram). A disposed shedder admits every call. Calling it again does nothing.
   */
  dispose(): void {
    if (this.unsubscribe === undefined) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
    this.update(NONE);
  }

  /** Same as {@link dispose}, for `using shedder = loadShedder(...)`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal Called by the sampler after each sample. */
  sampled(readings: PressureReadings): void {
    const from = this.current;
    const to = pressureOf(readings, this.limitList);
    this.current = to;
    this.last = readings;
    if (from !== to && this.listenerCount('pressureChanged') !== 0) {
      this.emit('pressureChanged', { from, to, readings });
    }
    this.update(nextShedding(this.shed, to, this.thresholds, this.hysteresis));
  }

  private start(): void {
    const { readings, unsubscribe } = subscribe(this, this.probe, this.clock ?? systemClock);
    this.unsubscribe = unsubscribe;
    this.last = readings;
    this.current = pressureOf(readings, this.limitList);
    this.update(nextShedding(this.shed, this.current, this.thresholds, this.hysteresis));
  }

  private update(next: Readonly<Record<Priority, boolean>>): void {
    if (PRIORITIES.every((p) => next[p] === this.shed[p])) return;
    const from = this.shedList;
    this.shed = Object.freeze(next);
    this.shedNormal = next.normal;
    this.shedList = listOf(next);
    if (this.listenerCount('sheddingChanged') !== 0) {
      this.emit('sheddingChanged', { from, to: this.shedList, pressure: this.current });
    }
  }

  private rejection(priority: Priority): OverloadedError {
    const pressure = this.current;
    if (this.listenerCount('shed') !== 0) this.emit('shed', { priority, pressure });
    // Rejections are the hot path under overload: no stack trace (see withoutStack).
    return withoutStack(() => new OverloadedError('pressure', priority, pressure, this.retryAfter));
  }
}

function positive(name: string, value: unknown, unit: string): number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be a number of ${unit} > 0, got ${v.show(value)}`);
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a finite number of ${unit} > 0, got ${v.show(value)}`);
  }
  return value;
}

function thresholdsOf(value: unknown): ShedThresholds {
  if (value === undefined) return DEFAULT_THRESHOLDS;
  const given = v.object('thresholds', value);
  v.knownKeys('thresholds', given, SHEDDABLE);
  const merged = { ...DEFAULT_THRESHOLDS };
  for (const p of SHEDDABLE) {
    const t = given[p];
    if (t === undefined) continue;
    if (typeof t !== 'number') throw new TypeError(`thresholds.${p} must be a number > 0, got ${v.show(t)}`);
    if (!(Number.isFinite(t) && t > 0)) {
      throw new RangeError(`thresholds.${p} must be a finite number > 0, got ${v.show(t)}`);
    }
    merged[p] = t;
  }
  for (let i = 1; i < SHEDDABLE.length; i++) {
    const less = SHEDDABLE[i - 1]!;
    const more = SHEDDABLE[i]!;
    if (merged[more] < merged[less]) {
      throw new RangeError(
        `thresholds must not decrease from background to high: ${more} (${merged[more]}) is below ${less} (${merged[less]})`,
      );
    }
  }
  return Object.freeze(merged);
}

/**
 * Protects the process from itself under overload: watches event-loop delay, event-loop
 * utilization, heap and RSS against the limits you give, and refuses the least important
 * calls first as the pressure (the highest reading/limit ratio) rises: `background` from
 * 0.6, `low` from 0.75, `normal` from 0.9, `high` from 1.0; `critical` never. A shed
 * priority is admitted again once the pressure falls `hysteresis` (0.1) below its
 * threshold. A refused call is not run and rejects with an {@link OverloadedError}.
 *
 * Sampling is shared: every shedder in the process reads one sampler (an unref'd timer
 * and Node's event-loop delay histogram), started by the first shedder and stopped when
 * the last is disposed. A call costs one comparison, never a measurement.
 *
 * @example
 * ```ts
 * const shedder = loadShedder({ maxEventLoopDelay: 200, maxHeapUsedBytes: 1.5e9 });
 * const policy = pipeline(shedder, timeout(2_000));
 * await policy.execute(() => renderReport(), { priority: 'background' });
 * // on shutdown
 * shedder.dispose();
 * ```
 */
export function loadShedder(options: LoadShedderOptions): LoadShedderPolicy {
  return new LoadShedderPolicy(options);
}
