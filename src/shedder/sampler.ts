import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { backgroundTimer, type Clock, systemClock } from '../clock.js';
import { warn } from '../emitter.js';
import { BreakwaterError } from '../errors.js';
import { show } from '../validate.js';

/** The histogram `monitorEventLoopDelay` answers (named differently across @types/node versions). */
type EventLoopHistogram = ReturnType<typeof monitorEventLoopDelay>;

/** What a load shedder watches, as last sampled. */
export interface PressureReadings {
  /** Event-loop delay (ms): the p99 over the last sample window, beyond the histogram's 10 ms resolution. */
  readonly eventLoopDelay: number;
  /** Event-loop utilization over the last sample window: the share of time the loop was busy, 0..1. */
  readonly eventLoopUtilization: number;
  /** V8 heap in use (bytes), `process.memoryUsage().heapUsed`. */
  readonly heapUsedBytes: number;
  /** Resident set size (bytes), `process.memoryUsage().rss`. */
  readonly rssBytes: number;
}

/**
 * Replaces the process's own readings, for tests and for users who measure elsewhere (a
 * container's cgroup, a sidecar). Called once per sample; a reading left out counts as 0.
 * One that throws or answers something other than finite numbers >= 0 is reported as a
 * process warning, and the previous readings stay.
 */
export type PressureProbe = () => Partial<PressureReadings>;

/** What a sampler tells each of its shedders after every sample. */
export interface SampleListener {
  /** The shedder's own interval: the sampler runs at the shortest of its listeners'. */
  readonly sampleInterval: number;
  sampled(readings: PressureReadings): void;
}

export const ZERO: PressureReadings = Object.freeze({
  eventLoopDelay: 0,
  eventLoopUtilization: 0,
  heapUsedBytes: 0,
  rssBytes: 0,
});

/** Resolution (ms) of the event-loop delay histogram, Node's default: it records this much on an idle loop. */
const RESOLUTION = 10;

/** Where readings come from: the process itself, or a probe. */
interface Source {
  start(): PressureReadings;
  /** `late`: ms the sampler's own timer fired after it was due, a floor for the event-loop delay. */
  read(late: number): PressureReadings | undefined;
  stop(): void;
}

/** The process's own readings, each over the window since the previous sample. */
function nodeSource(): Source {
  let histogram: EventLoopHistogram | undefined;
  let elu = performance.eventLoopUtilization();
  const memory = () => process.memoryUsage();
  return {
    start() {
      histogram = monitorEventLoopDelay({ resolution: RESOLUTION });
      histogram.enable();
      elu = performance.eventLoopUtilization();
      const { heapUsed, rss } = memory();
      // No window yet for the loop's readings: they start at 0.
      return { eventLoopDelay: 0, eventLoopUtilization: 0, heapUsedBytes: heapUsed, rssBytes: rss };
    },
    read(late) {
      const h = histogram!;
      // An empty histogram answers garbage (511 ns); the loop's readings include the resolution.
      const p99 = h.count === 0 ? 0 : Math.max(0, h.percentile(99) / 1e6 - RESOLUTION);
      h.reset();
      const now = performance.eventLoopUtilization();
      const utilization = performance.eventLoopUtilization(now, elu).utilization;
      elu = now;
      const { heapUsed, rss } = memory();
      return {
        // A loop blocked for a whole window records nothing in the histogram; our own late timer shows it.
        eventLoopDelay: Math.max(p99, late),
        eventLoopUtilization: Number.isFinite(utilization) ? Math.min(1, Math.max(0, utilization)) : 0,
        heapUsedBytes: heapUsed,
        rssBytes: rss,
      };
    },
    stop() {
      histogram?.disable();
      histogram = undefined;
    },
  };
}

const FIELDS = ['eventLoopDelay', 'eventLoopUtilization', 'heapUsedBytes', 'rssBytes'] as const;

/** A user's probe: its answer is checked, and a bad one keeps the previous readings. */
function probeSource(probe: PressureProbe): Source {
  const read = (): PressureReadings | undefined => {
    let answer: unknown;
    try {
      answer = probe();
      if (typeof answer !== 'object' || answer === null) {
        throw new TypeError(`probe must return an object of readings, got ${show(answer)}`);
      }
      const readings: Record<string, number> = {};
      for (const field of FIELDS) {
        const value = (answer as Record<string, unknown>)[field] ?? 0;
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new TypeError(`probe: ${field} must be a finite number >= 0, got ${show(value)}`);
        }
        readings[field] = value;
      }
      return readings as unknown as PressureReadings;
    } catch (error) {
      warn(new BreakwaterError('loadShedder probe failed; keeping the previous readings', { cause: error }));
      return undefined;
    }
  };
  return { start: () => read() ?? ZERO, read, stop() {} };
}

/**
 * Samples one source on one clock for every shedder that watches it, at the shortest
 * interval among them. Its timer is unref'd on the system clock; it exists only while
 * a shedder listens.
 */
class Sampler {
  private readonly listeners = new Set<SampleListener>();
  private interval = Number.POSITIVE_INFINITY;
  private timer: { clear(): void } | undefined;
  private due = 0;
  /** The latest readings, handed to a shedder as it joins. */
  readings: PressureReadings = ZERO;

  constructor(
    private readonly source: Source,
    private readonly clock: Clock,
    private readonly forget: () => void,
  ) {}

  add(listener: SampleListener): PressureReadings {
    const first = this.listeners.size === 0;
    this.listeners.add(listener);
    if (first) this.readings = this.source.start();
    if (listener.sampleInterval < this.interval) {
      this.interval = listener.sampleInterval;
      this.arm();
    }
    return this.readings;
  }

  remove(listener: SampleListener): void {
    if (!this.listeners.delete(listener)) return;
    if (this.listeners.size === 0) {
      this.timer?.clear();
      this.timer = undefined;
      this.source.stop();
      this.forget();
      return;
    }
    // The next sample re-arms at the shortest interval left.
    let shortest = Number.POSITIVE_INFINITY;
    for (const l of this.listeners) shortest = Math.min(shortest, l.sampleInterval);
    this.interval = shortest;
  }

  private arm(): void {
    this.timer?.clear();
    this.due = this.clock.now() + this.interval;
    this.timer = backgroundTimer(this.clock, this.tick, this.interval);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const late = Math.max(0, this.clock.now() - this.due);
    this.arm();
    const readings = this.source.read(late);
    if (readings === undefined) return;
    this.readings = readings;
    // A listener may dispose a shedder (this set changes) while we go round.
    for (const listener of [...this.listeners]) {
      if (this.listeners.has(listener)) listener.sampled(readings);
    }
  };
}

/** The process's own sampler (one per process), and one per probe and clock. */
const NODE = Symbol('node');
const samplers = new Map<Clock, Map<PressureProbe | typeof NODE, Sampler>>();

/**
 * Starts `listener` on the sampler of `probe` (the process's own when undefined) and
 * answers the latest readings and the function that stops it. The process's readings are
 * always sampled on real, unref'd timers; a probe is sampled on `clock`'s timers.
 */
export function subscribe(
  listener: SampleListener,
  probe: PressureProbe | undefined,
  clock: Clock,
): { readings: PressureReadings; unsubscribe: () => void } {
  const on = probe === undefined ? systemClock : clock;
  const key = probe ?? NODE;
  let byKey = samplers.get(on);
  if (byKey === undefined) {
    byKey = new Map();
    samplers.set(on, byKey);
  }
  let sampler = byKey.get(key);
  if (sampler === undefined) {
    const created = new Sampler(probe === undefined ? nodeSource() : probeSource(probe), on, () => {
      const map = samplers.get(on);
      if (map?.get(key) !== created) return;
      map.delete(key);
      if (map.size === 0) samplers.delete(on);
    });
    sampler = created;
    byKey.set(key, sampler);
  }
  const readings = sampler.add(listener);
  const joined = sampler;
  return { readings, unsubscribe: () => joined.remove(listener) };
}

/** Samplers running now, for tests: 0 once every shedder is disposed. */
export function activeSamplers(): number {
  let n = 0;
  for (const byKey of samplers.values()) n += byKey.size;
  return n;
}
