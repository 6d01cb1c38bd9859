import { Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { STATES } from '../circuit-breaker/state.js';
import { type MetricsSink, Observer, policiesOf } from '../telemetry/observe.js';
import * as v from '../validate.js';

/** Options of {@link instrument}. */
export interface PrometheusOptions {
  /** The registry to register metrics in; never the global one. @default a new Registry */
  registry?: Registry;
  /**
   * Prefix of every metric name.
   * @default 'breakwater'
   */
  prefix?: string;
  /**
   * Buckets (seconds) of the call duration histogram.
   * @default [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  buckets?: number[];
}

/** What {@link instrument} returns. */
export interface PrometheusInstrumentation {
  /** The registry the metrics are in: serve `await registry.metrics()` on `/metrics`. */
  readonly registry: Registry;
  /**
   * Stops recording this target: removes the listeners `instrument` added and its bulkheads from
   * the gauges, except those another instrumentation into the same metrics still holds.
   */
  dispose(): void;
}

const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The observer of each set of metrics (a registry and prefix), keyed by its metric objects:
 * the bulkhead gauges read its bulkheads at scrape time, and a policy reached by two
 * `instrument` calls into the same metrics is listened to, and counted, once.
 */
const observers = new WeakMap<object, Observer>();

interface Tally {
  readonly labels: Record<string, string>;
  /** Calls counted so far. */
  count: number;
  /** Of those, the ones already handed to prom-client. */
  reported: number;
}

/**
 * Where a `calls_total` counter keeps its tallies: on the counter itself, under a key shared by
 * every copy of breakwater, so that two copies writing into one registry count into one place.
 */
const TALLIES = Symbol.for('breakwater.prometheus.tallies');

function talliesOf(counter: object): Map<string, Tally> {
  const holder = counter as { [TALLIES]?: Map<string, Tally> };
  if (holder[TALLIES] === undefined) {
    Object.defineProperty(holder, TALLIES, { value: new Map<string, Tally>() });
  }
  return holder[TALLIES]!;
}

function validBuckets(value: unknown): number[] {
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]),
    );
  if (!ok)
    throw new TypeError(`buckets must be increasing finite numbers of seconds > 0, got ${v.show(value)}`);
  return value as number[];
}

/** One metric per name and registry, so that many `instrument` calls can share a registry. */
function metric<M extends Metric>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

/**
 * Records the events of a breaker, a policy or a whole pipeline (every policy in it) as
 * Prometheus metrics, with stable names and a closed set of label values:
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `<prefix>_circuit_state` | gauge, 1 for the current state, 0 for the others | `name`, `state` |
 * | `<prefix>_circuit_transitions_total` | counter | `name`, `from`, `to` |
 * | `<prefix>_calls_total` | counter | `name`, `policy`, `outcome` (success, failure, rejected, ignored, timeout, fallback, stale_fallback) |
 * | `<prefix>_call_duration_seconds` | histogram of breaker calls | `name`, `outcome` (success, failure) |
 * | `<prefix>_retries_total` | counter | `name` |
 * | `<prefix>_retry_give_ups_total` | counter | `name`, `reason` |
 * | `<prefix>_bulkhead_in_flight`, `<prefix>_bulkhead_queued` | gauges, read at scrape time | `name` |
 * | `<prefix>_chaos_injections_total` | counter | `name`, `kind` |
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { instrument } from 'breakwater/prometheus';
 * const registry = new Registry();
 * const handle = instrument(policy, { registry });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export function instrument(
  target: object | readonly object[],
  options: PrometheusOptions = {},
): PrometheusInstrumentation {
  v.knownKeys('instrument', v.object('instrument options', options), ['registry', 'prefix', 'buckets']);
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry) && typeof (registry as Registry).getSingleMetric !== 'function') {
    throw new TypeError(`registry must be a prom-client Registry, got ${v.show(registry)}`);
  }
  const prefix = options.prefix ?? 'breakwater';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new TypeError(`prefix must be a valid Prometheus metric name prefix, got ${v.show(prefix)}`);
  }
  const buckets = options.buckets === undefined ? DEFAULT_BUCKETS : validBuckets(options.buckets);
  policiesOf(target); // a TypeError for a bad target before any metric is registered
  const registers = [registry];

  const state = metric(
    registry,
    `${prefix}_circuit_state`,
    () =>
      new Gauge({
        name: `${prefix}_circuit_state`,
        help: 'Circuit state: 1 for the current state, 0 for the others.',
        labelNames: ['name', 'state'],
        registers,
      }),
  );
  const transitions = metric(
    registry,
    `${prefix}_circuit_transitions_total`,
    () =>
      new Counter({
        name: `${prefix}_circuit_transitions_total`,
        help: 'Circuit state changes.',
        labelNames: ['name', 'from', 'to'],
        registers,
      }),
  );
  const calls = metric(
    registry,
    `${prefix}_calls_total`,
    () =>
      new Counter({
        name: `${prefix}_calls_total`,
        help: 'Calls by policy and outcome.',
        labelNames: ['name', 'policy', 'outcome'],
        registers,
        // Calls are tallied in plain numbers and handed to prom-client at scrape time, as what
        // was added since the last scrape (so that registry.resetMetrics() still resets): a
        // labelled inc() per call costs ~250 ns of label hashing.
        collect() {
          for (const tally of talliesOf(this).values()) {
            if (tally.count === tally.reported) continue;
            this.inc(tally.labels, tally.count - tally.reported);
            tally.reported = tally.count;
          }
        },
      }),
  );
  const durations = metric(
    registry,
    `${prefix}_call_duration_seconds`,
    () =>
      new Histogram({
        name: `${prefix}_call_duration_seconds`,
        help: 'Duration of calls through a circuit breaker.',
        labelNames: ['name', 'outcome'],
        buckets,
        registers,
      }),
  );
  const retries = metric(
    registry,
    `${prefix}_retries_total`,
    () =>
      new Counter({
        name: `${prefix}_retries_total`,
        help: 'Retries started.',
        labelNames: ['name'],
        registers,
      }),
  );
  const giveUps = metric(
    registry,
    `${prefix}_retry_give_ups_total`,
    () =>
      new Counter({
        name: `${prefix}_retry_give_ups_total`,
        help: 'Calls that retry gave up on, by reason.',
        labelNames: ['name', 'reason'],
        registers,
      }),
  );
  const injections = metric(
    registry,
    `${prefix}_chaos_injections_total`,
    () =>
      new Counter({
        name: `${prefix}_chaos_injections_total`,
        help: 'Chaos injections by kind.',
        labelNames: ['name', 'kind'],
        registers,
      }),
  );
  const inFlight = metric(
    registry,
    `${prefix}_bulkhead_in_flight`,
    () =>
      new Gauge({
        name: `${prefix}_bulkhead_in_flight`,
        help: 'Calls running in a bulkhead.',
        labelNames: ['name'],
        registers,
        collect() {
          this.reset();
          for (const b of observers.get(this)?.bulkheads ?? []) this.set({ name: b.name }, b.inFlight);
        },
      }),
  );
  const queued = metric(
    registry,
    `${prefix}_bulkhead_queued`,
    () =>
      new Gauge({
        name: `${prefix}_bulkhead_queued`,
        help: 'Calls waiting in a bulkhead queue.',
        labelNames: ['name'],
        registers,
        collect() {
          this.reset();
          for (const b of observers.get(this)?.bulkheads ?? []) this.set({ name: b.name }, b.queued);
        },
      }),
  );
  const sink: MetricsSink = {
    calls: (name, policy, outcome) => {
      const series = talliesOf(calls);
      const key = `${name}\0${policy}\0${outcome}`;
      const tally = series.get(key) ?? { labels: { name, policy, outcome }, count: 0, reported: 0 };
      series.set(key, tally);
      return () => {
        tally.count++;
      };
    },
    durations: (name, outcome) => {
      const series = durations.labels({ name, outcome });
      return (seconds) => series.observe(seconds);
    },
    state: (name, current) => {
      for (const s of STATES) state.set({ name, state: s }, s === current ? 1 : 0);
    },
    transition: (name, from, to) => transitions.inc({ name, from, to }),
    retried: (name) => retries.inc({ name }),
    gaveUp: (name, reason) => giveUps.inc({ name, reason }),
    injected: (name, kind) => injections.inc({ name, kind }),
  };
  let observer = observers.get(calls);
  if (observer === undefined) {
    observer = new Observer(sink);
    for (const m of [calls, inFlight, queued]) observers.set(m, observer);
  }
  const release = observer.observe(target);

  return { registry, dispose: release };
}
