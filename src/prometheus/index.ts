/**
 * Prometheus metrics for breakwater's policies through `prom-client` (an optional peer
 * dependency): call outcomes and durations, breaker states, retries and bulkhead load.
 * @packageDocumentation
 * @module breakwater/prometheus
 */
import { Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { STATES, TRANSITIONS } from '../circuit-breaker/state.js';
import { PRIORITIES } from '../policy.js';
import {
  type AdaptiveLimitLike,
  type CallOutcome,
  countedNames,
  DEFAULT_BUCKETS,
  GIVE_UP_REASONS,
  INJECTION_KINDS,
  type MetricsSink,
  named,
  Observer,
  OUTCOMES,
  type PolicyKind,
  policiesOf,
  precheck,
  type Roster,
  validMaxSeries,
} from '../telemetry/observe.js';
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
   * Buckets (seconds) of the call duration histogram. Every `instrument` call into one registry
   * and prefix must give the same buckets (a registry holds one histogram per name).
   * @default [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
   */
  buckets?: number[];
  /**
   * Most distinct policy names (of any kind) recorded in these metrics: the policies of any
   * further name are recorded under the name `other` (counters add up, gauges sum, and
   * `circuit_state{name="other"}` counts the breakers in each state), so that thousands of keyed
   * policies cannot flood Prometheus with series. Give `Infinity` for no cap.
   * @default 1000
   */
  maxSeries?: number;
}

/** What {@link instrument} returns. */
export interface PrometheusInstrumentation {
  /** The registry the metrics are in: serve `await registry.metrics()` on `/metrics`. */
  readonly registry: Registry;
  /**
   * Stops recording this target: removes the listeners `instrument` added, and the series of its
   * policies from every metric, except those another instrumentation into the same metrics still
   * holds. The metrics themselves stay registered.
   */
  dispose(): void;
}

/** What a set of metrics (a registry and prefix) knows, kept on its `calls_total` counter. */
interface Book {
  /** The `calls_total` series, tallied outside prom-client (see `collect` below). */
  readonly tallies: Map<string, Tally>;
  /** The policies recorded, by kind and name: for name conflicts, bulkhead gauges and dispose. */
  readonly roster: Roster;
}

interface Tally {
  readonly labels: Record<string, string>;
  /** Calls counted so far. */
  count: number;
  /** Of those, the ones already handed to prom-client. */
  reported: number;
}

// Keys shared by every copy of breakwater (Symbol.for), so that two copies writing into one
// registry count into one place, see each other's names and recognise each other's metrics.
const BOOK = Symbol.for('breakwater.prometheus.book');
const SHAPE = Symbol.for('breakwater.prometheus.shape');

function bookOf(counter: object): Book {
  const holder = counter as { [BOOK]?: Book };
  if (holder[BOOK] === undefined) {
    Object.defineProperty(holder, BOOK, { value: { tallies: new Map(), roster: new Map() } });
  }
  return holder[BOOK]!;
}

const tallyKey = (name: string, policy: PolicyKind, outcome: CallOutcome) => `${name}\0${policy}\0${outcome}`;

/** The observer of each set of metrics in this copy of breakwater, keyed by its `calls_total` counter. */
const observers = new WeakMap<object, Observer>();

/** How breakwater's metrics look, to tell them from a user's metric of the same name. */
interface Shape {
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames: readonly string[];
  /** Histograms only. */
  readonly buckets?: readonly number[];
}

const SPECS = {
  state: { suffix: 'circuit_state', type: 'gauge', labelNames: ['name', 'state'] },
  transitions: { suffix: 'circuit_transitions_total', type: 'counter', labelNames: ['name', 'from', 'to'] },
  calls: { suffix: 'calls_total', type: 'counter', labelNames: ['name', 'policy', 'outcome'] },
  durations: { suffix: 'call_duration_seconds', type: 'histogram', labelNames: ['name', 'outcome'] },
  retries: { suffix: 'retries_total', type: 'counter', labelNames: ['name'] },
  giveUps: { suffix: 'retry_give_ups_total', type: 'counter', labelNames: ['name', 'reason'] },
  injections: { suffix: 'chaos_injections_total', type: 'counter', labelNames: ['name', 'kind'] },
  inFlight: { suffix: 'bulkhead_in_flight', type: 'gauge', labelNames: ['name'] },
  queued: { suffix: 'bulkhead_queued', type: 'gauge', labelNames: ['name'] },
  pressure: { suffix: 'shedder_pressure', type: 'gauge', labelNames: ['name'] },
  shedding: { suffix: 'shedder_shedding', type: 'gauge', labelNames: ['name', 'priority'] },
  shed: { suffix: 'shed_calls_total', type: 'counter', labelNames: ['name', 'priority'] },
  limit: { suffix: 'adaptive_limit', type: 'gauge', labelNames: ['name'] },
  limitInFlight: { suffix: 'adaptive_limit_in_flight', type: 'gauge', labelNames: ['name'] },
  limitQueued: { suffix: 'adaptive_limit_queued', type: 'gauge', labelNames: ['name'] },
  limitChanges: {
    suffix: 'adaptive_limit_changes_total',
    type: 'counter',
    labelNames: ['name', 'direction'],
  },
} as const satisfies Record<string, Shape & { suffix: string }>;

type Which = keyof typeof SPECS;

const list = (values: readonly unknown[]) =>
  `[${values.map((x) => (typeof x === 'number' ? x : v.show(x))).join(', ')}]`;

function validRegistry(value: unknown): Registry {
  // Duck-typed too: a Registry of another copy of prom-client works as well.
  const r = value as Partial<Registry> | null;
  if (
    value instanceof Registry ||
    (typeof r === 'object' &&
      r !== null &&
      typeof r.getSingleMetric === 'function' &&
      typeof r.registerMetric === 'function')
  ) {
    return value as Registry;
  }
  throw new TypeError(`registry must be a prom-client Registry, got ${v.show(value)}`);
}

function validPrefix(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`prefix must be a string, got ${v.show(value)}`);
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(value)) {
    throw new TypeError(
      `prefix must be a valid Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${v.show(value)}`,
    );
  }
  return value;
}

function validBuckets(value: unknown): readonly number[] {
  if (!Array.isArray(value)) {
    throw new TypeError(
      `buckets must be an array of increasing numbers of seconds > 0, got ${v.show(value)}`,
    );
  }
  if (value.length === 0) throw new RangeError('buckets must hold at least one bound, got []');
  for (let i = 0; i < value.length; i++) {
    const b: unknown = value[i];
    if (typeof b !== 'number') {
      throw new TypeError(`buckets[${i}] must be a number of seconds, got ${v.show(b)} in ${list(value)}`);
    }
    if (!Number.isFinite(b) || b <= 0) {
      throw new RangeError(
        `buckets[${i}] must be a finite number of seconds > 0, got ${b} in ${list(value)}`,
      );
    }
    if (i > 0 && !(b > value[i - 1])) {
      throw new RangeError(`buckets must be increasing, got ${b} after ${value[i - 1]} in ${list(value)}`);
    }
  }
  return [...value]; // the caller may change their array later
}

/**
 * The metric already registered as `name`, or undefined. Throws a TypeError for a metric that
 * breakwater did not create (a user's), or whose shape differs (other buckets): sharing it would
 * record nothing, or disagree with what the other `instrument` call asked for.
 */
function registered(registry: Registry, name: string, shape: Shape): Metric | undefined {
  const found = registry.getSingleMetric(name);
  if (found === undefined) return undefined;
  const theirs = (found as { [SHAPE]?: Shape })[SHAPE];
  if (theirs === undefined) {
    throw new TypeError(
      `instrument: the registry already has a metric named ${JSON.stringify(name)} that breakwater did not create; ` +
        'give breakwater another prefix',
    );
  }
  if (theirs.type !== shape.type || theirs.labelNames.join() !== shape.labelNames.join()) {
    throw new TypeError(
      `instrument: the registry already has a ${theirs.type} ${JSON.stringify(name)} labelled ${list(theirs.labelNames)}, ` +
        `not the ${shape.type} labelled ${list(shape.labelNames)} this breakwater records; give it another prefix`,
    );
  }
  if (shape.buckets !== undefined && theirs.buckets?.join() !== shape.buckets.join()) {
    throw new TypeError(
      `instrument: buckets ${list(shape.buckets)} differ from the buckets ${list(theirs.buckets ?? [])} of ` +
        `${JSON.stringify(name)}, already in this registry; pass the same buckets, or another prefix`,
    );
  }
  return found;
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
 * | `<prefix>_shedder_pressure` | gauge, read at scrape time: highest reading/limit ratio | `name` |
 * | `<prefix>_shedder_shedding` | gauge, 1 while the priority is shed, else 0 | `name`, `priority` |
 * | `<prefix>_shed_calls_total` | counter of calls a load shedder refused | `name`, `priority` |
 * | `<prefix>_adaptive_limit`, `<prefix>_adaptive_limit_in_flight`, `<prefix>_adaptive_limit_queued` | gauges, read at scrape time | `name` |
 * | `<prefix>_adaptive_limit_changes_total` | counter | `name`, `direction` (up, down) |
 *
 * A shed call also counts as `calls_total{policy="load-shedder",outcome="rejected"}`, and a call an
 * adaptive limit turned away as `calls_total{policy="adaptive-limit",outcome="rejected"}`. Past
 * `maxSeries` distinct names, policies are recorded under the name `other`. A
 * `CircuitBreakerGroup` may be instrumented too: its breakers are recorded under the group's
 * name as they come and go, and its `circuit_state` counts them in each state.
 *
 * Any number of `instrument` calls may share a registry and prefix. In it, two different
 * breakers may not share a name (a TypeError); other policies of one kind that share a name
 * add into the same series, and the bulkhead gauges sum them. A metric of the same name that
 * breakwater did not create, or `buckets` other than those the histogram has, is a TypeError.
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
  const o = v.object('instrument options', options) as PrometheusOptions;
  v.knownKeys('instrument', o, ['registry', 'prefix', 'buckets', 'maxSeries']);
  const registry = o.registry === undefined ? new Registry() : validRegistry(o.registry);
  const prefix = o.prefix === undefined ? 'breakwater' : validPrefix(o.prefix);
  const buckets = o.buckets === undefined ? DEFAULT_BUCKETS : validBuckets(o.buckets);
  const maxSeries = validMaxSeries(o.maxSeries);
  const leaves = policiesOf(target);

  // Everything is checked before anything is registered or listened to.
  const shapes = {} as Record<Which, Shape & { name: string }>;
  const found = {} as Record<Which, Metric | undefined>;
  for (const which of Object.keys(SPECS) as Which[]) {
    const { suffix, type, labelNames } = SPECS[which];
    const shape = type === 'histogram' ? { type, labelNames, buckets } : { type, labelNames };
    shapes[which] = { ...shape, name: `${prefix}_${suffix}` };
    found[which] = registered(registry, shapes[which].name, shape);
  }
  const where = `the metrics "${prefix}_*" of this registry`;
  const known = found.calls === undefined ? undefined : bookOf(found.calls).roster;
  precheck(leaves, known, where, maxSeries);

  const registers = [registry];
  function metric<M extends Metric>(which: Which, create: (name: string) => M): M {
    if (found[which] !== undefined) return found[which] as M;
    const { name, ...shape } = shapes[which];
    const created = create(name);
    Object.defineProperty(created, SHAPE, { value: shape });
    return created;
  }

  const calls = metric(
    'calls',
    (name) =>
      new Counter({
        name,
        help: 'Calls by policy and outcome.',
        labelNames: SPECS.calls.labelNames,
        registers,
        // Calls are tallied in plain numbers and handed to prom-client at scrape time, as what
        // was added since the last scrape (so that registry.resetMetrics() still resets): a
        // labelled inc() per call costs ~250 ns of label hashing.
        collect() {
          for (const tally of bookOf(this).tallies.values()) {
            if (tally.count === tally.reported) continue;
            this.inc(tally.labels, tally.count - tally.reported);
            tally.reported = tally.count;
          }
        },
      }),
  );
  const book = bookOf(calls);
  const state = metric(
    'state',
    (name) =>
      new Gauge({
        name,
        help: 'Circuit state: 1 for the current state, 0 for the others (for "other" and a group: breakers in each state).',
        labelNames: SPECS.state.labelNames,
        registers,
        collect() {
          const breakers = named(book.roster, 'circuit-breaker');
          for (const name of countedNames(book.roster)) {
            const counted = breakers.get(name);
            if (counted === undefined) continue;
            for (const s of STATES) {
              let n = 0;
              for (const b of counted.keys()) if (b.state === s) n++;
              this.set({ name, state: s }, n);
            }
          }
        },
      }),
  );
  const transitions = metric(
    'transitions',
    (name) =>
      new Counter({
        name,
        help: 'Circuit state changes.',
        labelNames: SPECS.transitions.labelNames,
        registers,
      }),
  );
  const durations = metric(
    'durations',
    (name) =>
      new Histogram({
        name,
        help: 'Duration of calls through a circuit breaker.',
        labelNames: SPECS.durations.labelNames,
        buckets: [...buckets],
        registers,
      }),
  );
  const retries = metric(
    'retries',
    (name) =>
      new Counter({ name, help: 'Retries started.', labelNames: SPECS.retries.labelNames, registers }),
  );
  const giveUps = metric(
    'giveUps',
    (name) =>
      new Counter({
        name,
        help: 'Calls that retry gave up on, by reason.',
        labelNames: SPECS.giveUps.labelNames,
        registers,
      }),
  );
  const injections = metric(
    'injections',
    (name) =>
      new Counter({
        name,
        help: 'Chaos injections by kind.',
        labelNames: SPECS.injections.labelNames,
        registers,
      }),
  );
  // Read at scrape time; bulkheads that share a name are summed.
  const bulkheadGauge = (help: string, read: (b: { inFlight: number; queued: number }) => number) =>
    function gauge(name: string) {
      return new Gauge({
        name,
        help,
        labelNames: SPECS.inFlight.labelNames,
        registers,
        collect() {
          this.reset();
          for (const [bulkhead, bulkheads] of named(book.roster, 'bulkhead')) {
            let sum = 0;
            for (const b of bulkheads.keys()) sum += read(b);
            this.set({ name: bulkhead }, sum);
          }
        },
      });
    };
  metric(
    'inFlight',
    bulkheadGauge('Calls running in a bulkhead.', (b) => b.inFlight),
  );
  metric(
    'queued',
    bulkheadGauge('Calls waiting in a bulkhead queue.', (b) => b.queued),
  );
  metric(
    'pressure',
    (name) =>
      new Gauge({
        name,
        help: 'Load shedder pressure: the highest ratio reading/limit (shedders sharing a name: the highest).',
        labelNames: SPECS.pressure.labelNames,
        registers,
        collect() {
          this.reset();
          for (const [shedder, shedders] of named(book.roster, 'load-shedder')) {
            let highest = 0;
            for (const s of shedders.keys()) highest = Math.max(highest, s.pressure);
            this.set({ name: shedder }, highest);
          }
        },
      }),
  );
  metric(
    'shedding',
    (name) =>
      new Gauge({
        name,
        help: 'Whether a load shedder refuses calls of a priority: 1 while it does, else 0.',
        labelNames: SPECS.shedding.labelNames,
        registers,
        collect() {
          this.reset();
          for (const [shedder, shedders] of named(book.roster, 'load-shedder')) {
            for (const priority of PRIORITIES) {
              let shed = 0;
              for (const s of shedders.keys()) if (s.isShedding(priority)) shed = 1;
              this.set({ name: shedder, priority }, shed);
            }
          }
        },
      }),
  );
  const shed = metric(
    'shed',
    (name) =>
      new Counter({
        name,
        help: 'Calls a load shedder refused, by priority.',
        labelNames: SPECS.shed.labelNames,
        registers,
      }),
  );
  // Read at scrape time; adaptive limits that share a name are summed.
  const limitGauge = (
    which: 'limit' | 'limitInFlight' | 'limitQueued',
    help: string,
    read: (a: AdaptiveLimitLike) => number,
  ) =>
    metric(
      which,
      (name) =>
        new Gauge({
          name,
          help,
          labelNames: SPECS[which].labelNames,
          registers,
          collect() {
            this.reset();
            for (const [limit, limits] of named(book.roster, 'adaptive-limit')) {
              let sum = 0;
              for (const a of limits.keys()) sum += read(a);
              this.set({ name: limit }, sum);
            }
          },
        }),
    );
  limitGauge('limit', 'Calls an adaptive limit lets run at once now.', (a) => a.limit);
  limitGauge('limitInFlight', 'Calls running under an adaptive limit.', (a) => a.inFlight);
  limitGauge('limitQueued', 'Calls waiting for an adaptive limit.', (a) => a.queued);
  const limitChanges = metric(
    'limitChanges',
    (name) =>
      new Counter({
        name,
        help: 'Moves of an adaptive limit, up or down.',
        labelNames: SPECS.limitChanges.labelNames,
        registers,
      }),
  );

  let observer = observers.get(calls);
  if (observer === undefined) {
    // prom-client removes one exact label set at a time, so every label value is enumerated.
    const forget = (policy: PolicyKind, name: string) => {
      for (const outcome of OUTCOMES) {
        book.tallies.delete(tallyKey(name, policy, outcome));
        calls.remove({ name, policy, outcome });
      }
      switch (policy) {
        case 'circuit-breaker':
          for (const from of STATES) {
            state.remove({ name, state: from });
            for (const to of TRANSITIONS[from]) transitions.remove({ name, from, to });
          }
          durations.remove({ name, outcome: 'success' });
          durations.remove({ name, outcome: 'failure' });
          break;
        case 'retry':
          retries.remove({ name });
          for (const reason of GIVE_UP_REASONS) giveUps.remove({ name, reason });
          break;
        case 'chaos':
          for (const kind of INJECTION_KINDS) injections.remove({ name, kind });
          break;
        case 'load-shedder':
          for (const priority of PRIORITIES) shed.remove({ name, priority });
          break;
        case 'adaptive-limit':
          limitChanges.remove({ name, direction: 'up' });
          limitChanges.remove({ name, direction: 'down' });
          break;
      }
    };
    const sink: MetricsSink = {
      calls: (name, policy, outcome) => {
        const key = tallyKey(name, policy, outcome);
        let tally = book.tallies.get(key);
        if (tally === undefined) {
          tally = { labels: { name, policy, outcome }, count: 0, reported: 0 };
          book.tallies.set(key, tally);
        }
        const counted = tally;
        return () => {
          counted.count++;
        };
      },
      durations: (name, outcome) => {
        const series = durations.labels({ name, outcome });
        return (seconds) => series.observe(seconds);
      },
      state: (name, current) => {
        if (countedNames(book.roster).includes(name)) return; // counted at scrape time
        for (const s of STATES) state.set({ name, state: s }, s === current ? 1 : 0);
      },
      transition: (name, from, to) => transitions.inc({ name, from, to }),
      retried: (name) => retries.inc({ name }),
      gaveUp: (name, reason) => giveUps.inc({ name, reason }),
      injected: (name, kind) => injections.inc({ name, kind }),
      shed: (name, priority) => shed.inc({ name, priority }),
      limitChanged: (name, direction) => limitChanges.inc({ name, direction }),
      forget,
    };
    observer = new Observer(sink, where, book.roster);
    observers.set(calls, observer);
  }
  return { registry, dispose: observer.observe(leaves, maxSeries) };
}
