/**
 * OpenTelemetry metrics for breakwater's policies through `@opentelemetry/api` (an optional
 * peer dependency): the same metrics as `breakwater/prometheus`.
 * @packageDocumentation
 * @module breakwater/opentelemetry
 */
import type { BatchObservableResult, Meter } from '@opentelemetry/api';
import { metrics } from '@opentelemetry/api';
import { STATES } from '../circuit-breaker/state.js';
import { PRIORITIES } from '../policy.js';
import {
  DEFAULT_BUCKETS,
  type MetricsSink,
  named,
  Observer,
  policiesOf,
  precheck,
  validMaxSeries,
} from '../telemetry/observe.js';
import * as v from '../validate.js';

/** Options of {@link instrument}. */
export interface OpenTelemetryOptions {
  /** The meter to create instruments on. @default metrics.getMeter('breakwater') */
  meter?: Meter;
  /**
   * Prefix of every instrument name.
   * @default 'breakwater'
   */
  prefix?: string;
  /**
   * Most distinct policy names (of any kind) recorded on this meter and prefix: the policies of
   * any further name are recorded under the name `other` (counters add up, gauges sum, and
   * `circuit.state {name: "other"}` counts the breakers in each state). `Infinity` for no cap.
   * @default 1000
   */
  maxSeries?: number;
}

/** What {@link instrument} returns. */
export interface OpenTelemetryInstrumentation {
  /**
   * Stops recording this target: removes the listeners `instrument` added, and reports its breakers'
   * state and its bulkheads' gauges as 0 at the next collection, then no more, except what another
   * instrumentation on the same meter and prefix still holds. The OpenTelemetry API cannot delete a
   * series: a cumulative reader keeps exporting the last value of each (a delta reader stops).
   */
  dispose(): void;
}

/** The longest instrument suffix; the SDK allows names of up to 255 characters. */
const MAX_PREFIX = 255 - '.circuit.transitions'.length;

function validMeter(value: unknown): Meter {
  const m = value as Partial<Meter> | null;
  if (
    typeof m === 'object' &&
    m !== null &&
    typeof m.createCounter === 'function' &&
    typeof m.createHistogram === 'function' &&
    typeof m.createObservableGauge === 'function' &&
    typeof m.addBatchObservableCallback === 'function' &&
    typeof m.removeBatchObservableCallback === 'function'
  ) {
    return value as Meter;
  }
  throw new TypeError(`meter must be an OpenTelemetry Meter, got ${v.show(value)}`);
}

function validPrefix(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`prefix must be a string, got ${v.show(value)}`);
  if (!/^[A-Za-z][A-Za-z0-9_./-]*$/.test(value)) {
    throw new TypeError(
      `prefix must be a valid OpenTelemetry instrument name prefix ([A-Za-z][A-Za-z0-9_./-]*), got ${v.show(value)}`,
    );
  }
  if (value.length > MAX_PREFIX) {
    throw new RangeError(`prefix must be at most ${MAX_PREFIX} characters, got ${value.length}`);
  }
  return value;
}

/**
 * Records the same metrics as `breakwater/prometheus`, through the OpenTelemetry metrics API:
 * counters `<prefix>.calls {name, policy, outcome}`, `<prefix>.circuit.transitions {name, from, to}`,
 * `<prefix>.retries {name}`, `<prefix>.retry.give_ups {name, reason}`, `<prefix>.chaos.injections {name, kind}`;
 * a histogram `<prefix>.call.duration` (seconds, with the same default buckets as Prometheus) `{name, outcome}`;
 * and gauges read at collection time: `<prefix>.circuit.state {name, state}` (1 for the current state),
 * `<prefix>.bulkhead.in_flight` and `<prefix>.bulkhead.queued {name}`.
 *
 * Load shedders: a gauge `<prefix>.shedder.pressure {name}` (the highest reading/limit ratio), a gauge
 * `<prefix>.shedder.shedding {name, priority}` (1 while shed), and a counter `<prefix>.shedder.shed
 * {name, priority}` of refused calls. Adaptive limits: gauges `<prefix>.adaptive.limit`,
 * `<prefix>.adaptive.in_flight`, `<prefix>.adaptive.queued {name}`, and a counter
 * `<prefix>.adaptive.changes {name, direction}` (up, down). Their refused calls also count in
 * `<prefix>.calls` with `outcome: rejected`. Past `maxSeries` distinct names, policies are
 * recorded under the name `other`. A `CircuitBreakerGroup` may be instrumented too: its breakers
 * are recorded under the group's name as they come and go, and `circuit.state` counts them.
 *
 * On one meter and prefix, two different breakers may not share a name (a TypeError); other
 * policies of one kind that share a name add into the same series, and the bulkhead gauges sum them.
 *
 * @example
 * ```ts
 * import { instrument } from 'breakwater/opentelemetry';
 * const handle = instrument(policy, { meter: metrics.getMeter('orders-service') });
 * ```
 */
export function instrument(
  target: object | readonly object[],
  options: OpenTelemetryOptions = {},
): OpenTelemetryInstrumentation {
  const o = v.object('instrument options', options) as OpenTelemetryOptions;
  v.knownKeys('instrument', o, ['meter', 'prefix', 'maxSeries']);
  const meter = o.meter === undefined ? metrics.getMeter('breakwater') : validMeter(o.meter);
  const prefix = o.prefix === undefined ? 'breakwater' : validPrefix(o.prefix);
  const maxSeries = validMaxSeries(o.maxSeries);
  const leaves = policiesOf(target);

  let byPrefix = instrumentations.get(meter);
  let shared = byPrefix?.get(prefix);
  // Checked before any instrument is created or listener added.
  const known = shared?.observer.roster;
  precheck(leaves, known, whereOf(prefix), maxSeries);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instrumentations.set(meter, byPrefix);
  }
  if (shared === undefined) {
    shared = instruments(meter, prefix, byPrefix);
    byPrefix.set(prefix, shared);
  }
  const { observer, detachIfIdle } = shared;
  const release = observer.observe(leaves, maxSeries);
  let disposed = false;
  return {
    dispose() {
      if (disposed) return;
      disposed = true;
      release();
      detachIfIdle();
    },
  };
}

const whereOf = (prefix: string) => `the instruments "${prefix}.*" of this meter`;

interface Instruments {
  readonly observer: Observer;
  /** Removes the observable callback once nothing is observed and nothing is left to report. */
  readonly detachIfIdle: () => void;
}

/**
 * The instruments of each meter and prefix: a policy reached by two `instrument` calls on
 * the same meter is listened to, counted and observed once.
 */
const instrumentations = new WeakMap<Meter, Map<string, Instruments>>();

function instruments(meter: Meter, prefix: string, byPrefix: Map<string, Instruments>): Instruments {
  const calls = meter.createCounter(`${prefix}.calls`, { description: 'Calls by policy and outcome.' });
  const durations = meter.createHistogram(`${prefix}.call.duration`, {
    description: 'Duration of calls through a circuit breaker.',
    unit: 's',
    // Without advice the SDK's default bounds (0 to 10000) suit milliseconds, not seconds.
    advice: { explicitBucketBoundaries: [...DEFAULT_BUCKETS] },
  });
  const transitions = meter.createCounter(`${prefix}.circuit.transitions`, {
    description: 'Circuit state changes.',
  });
  const retries = meter.createCounter(`${prefix}.retries`, { description: 'Retries started.' });
  const giveUps = meter.createCounter(`${prefix}.retry.give_ups`, {
    description: 'Calls that retry gave up on.',
  });
  const injections = meter.createCounter(`${prefix}.chaos.injections`, {
    description: 'Chaos injections by kind.',
  });
  const state = meter.createObservableGauge(`${prefix}.circuit.state`, {
    description: 'Circuit state: 1 for the current state, 0 for the others.',
  });
  const inFlight = meter.createObservableGauge(`${prefix}.bulkhead.in_flight`, {
    description: 'Calls running in a bulkhead.',
  });
  const queued = meter.createObservableGauge(`${prefix}.bulkhead.queued`, {
    description: 'Calls waiting in a bulkhead queue.',
  });
  const pressure = meter.createObservableGauge(`${prefix}.shedder.pressure`, {
    description: 'Load shedder pressure: the highest ratio reading/limit.',
  });
  const shedding = meter.createObservableGauge(`${prefix}.shedder.shedding`, {
    description: 'Whether a load shedder refuses calls of a priority: 1 while it does, else 0.',
  });
  const shed = meter.createCounter(`${prefix}.shedder.shed`, {
    description: 'Calls a load shedder refused, by priority.',
  });
  const limitNow = meter.createObservableGauge(`${prefix}.adaptive.limit`, {
    description: 'Calls an adaptive limit lets run at once now.',
  });
  const limitInFlight = meter.createObservableGauge(`${prefix}.adaptive.in_flight`, {
    description: 'Calls running under an adaptive limit.',
  });
  const limitQueued = meter.createObservableGauge(`${prefix}.adaptive.queued`, {
    description: 'Calls waiting for an adaptive limit.',
  });
  const limitChanges = meter.createCounter(`${prefix}.adaptive.changes`, {
    description: 'Moves of an adaptive limit, up or down.',
  });

  // Names of the policies with gauges disposed since the last collection.
  const gone = {
    breakers: new Set<string>(),
    bulkheads: new Set<string>(),
    shedders: new Set<string>(),
    limits: new Set<string>(),
  };
  const nothingGone = () =>
    gone.breakers.size === 0 &&
    gone.bulkheads.size === 0 &&
    gone.shedders.size === 0 &&
    gone.limits.size === 0;
  const sink: MetricsSink = {
    calls: (name, policy, outcome) => {
      const attributes = { name, policy, outcome };
      return () => calls.add(1, attributes);
    },
    durations: (name, outcome) => {
      const attributes = { name, outcome };
      return (seconds) => durations.record(seconds, attributes);
    },
    state: () => {}, // read at collection time instead
    transition: (name, from, to) => transitions.add(1, { name, from, to }),
    retried: (name) => retries.add(1, { name }),
    gaveUp: (name, reason) => giveUps.add(1, { name, reason }),
    injected: (name, kind) => injections.add(1, { name, kind }),
    shed: (name, priority) => shed.add(1, { name, priority }),
    limitChanged: (name, direction) => limitChanges.add(1, { name, direction }),
    // The API cannot delete a series of a counter or histogram; the gauges get a last 0 (below).
    forget: (kind, name) => {
      if (kind === 'circuit-breaker') gone.breakers.add(name);
      else if (kind === 'bulkhead') gone.bulkheads.add(name);
      else if (kind === 'load-shedder') gone.shedders.add(name);
      else if (kind === 'adaptive-limit') gone.limits.add(name);
    },
  };
  const observer = new Observer(sink, whereOf(prefix));
  const observables = [state, inFlight, queued, pressure, shedding, limitNow, limitInFlight, limitQueued];

  const observe = (result: BatchObservableResult) => {
    // A cumulative reader would export a disposed policy's last value for ever: report 0 once
    // instead. First, so that a policy of the same name instrumented since then wins.
    for (const name of gone.breakers) for (const s of STATES) result.observe(state, 0, { name, state: s });
    for (const name of gone.bulkheads) {
      result.observe(inFlight, 0, { name });
      result.observe(queued, 0, { name });
    }
    for (const name of gone.shedders) {
      result.observe(pressure, 0, { name });
      for (const priority of PRIORITIES) result.observe(shedding, 0, { name, priority });
    }
    for (const name of gone.limits) {
      for (const g of [limitNow, limitInFlight, limitQueued]) result.observe(g, 0, { name });
    }
    gone.breakers.clear();
    gone.bulkheads.clear();
    gone.shedders.clear();
    gone.limits.clear();
    // One breaker per name, except "other" (past maxSeries): there, breakers in each state.
    for (const [name, breakers] of named(observer.roster, 'circuit-breaker')) {
      for (const s of STATES) {
        let n = 0;
        for (const breaker of breakers.keys()) if (breaker.state === s) n++;
        result.observe(state, n, { name, state: s });
      }
    }
    // Shedders that share a name: the highest pressure; a priority shed by any of them.
    for (const [name, shedders] of named(observer.roster, 'load-shedder')) {
      let highest = 0;
      for (const s of shedders.keys()) highest = Math.max(highest, s.pressure);
      result.observe(pressure, highest, { name });
      for (const priority of PRIORITIES) {
        let shed = 0;
        for (const s of shedders.keys()) if (s.isShedding(priority)) shed = 1;
        result.observe(shedding, shed, { name, priority });
      }
    }
    // Adaptive limits that share a name are summed.
    for (const [name, limits] of named(observer.roster, 'adaptive-limit')) {
      let limit = 0;
      let running = 0;
      let waiting = 0;
      for (const a of limits.keys()) {
        limit += a.limit;
        running += a.inFlight;
        waiting += a.queued;
      }
      result.observe(limitNow, limit, { name });
      result.observe(limitInFlight, running, { name });
      result.observe(limitQueued, waiting, { name });
    }
    // Bulkheads that share a name are summed.
    for (const [name, bulkheads] of named(observer.roster, 'bulkhead')) {
      let running = 0;
      let waiting = 0;
      for (const b of bulkheads.keys()) {
        running += b.inFlight;
        waiting += b.queued;
      }
      result.observe(inFlight, running, { name });
      result.observe(queued, waiting, { name });
    }
    // Not now: the SDK is iterating over its callbacks.
    if (observer.size === 0) queueMicrotask(detachIfIdle);
  };
  meter.addBatchObservableCallback(observe, observables);

  let detached = false;
  function detachIfIdle(): void {
    if (detached || observer.size !== 0 || !nothingGone()) return;
    detached = true;
    meter.removeBatchObservableCallback(observe, observables);
    if (byPrefix.get(prefix) === shared) byPrefix.delete(prefix);
  }
  const shared: Instruments = { observer, detachIfIdle };
  return shared;
}
