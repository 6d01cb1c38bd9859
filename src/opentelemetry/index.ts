import { type Meter, metrics, type ObservableResult } from '@opentelemetry/api';
import { STATES } from '../circuit-breaker/state.js';
import { type MetricsSink, Observer, policiesOf } from '../telemetry/observe.js';
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
}

/** What {@link instrument} returns. */
export interface OpenTelemetryInstrumentation {
  /**
   * Stops recording this target: removes the listeners and observable callbacks `instrument`
   * added, except those another instrumentation on the same meter and prefix still needs.
   */
  dispose(): void;
}

/**
 * Records the same metrics as `breakwater/prometheus`, through the OpenTelemetry metrics API:
 * counters `<prefix>.calls {name, policy, outcome}`, `<prefix>.circuit.transitions {name, from, to}`,
 * `<prefix>.retries {name}`, `<prefix>.retry.give_ups {name, reason}`, `<prefix>.chaos.injections {name, kind}`;
 * a histogram `<prefix>.call.duration` (seconds) `{name, outcome}`; and gauges read at collection time:
 * `<prefix>.circuit.state {name, state}` (1 for the current state), `<prefix>.bulkhead.in_flight` and
 * `<prefix>.bulkhead.queued {name}`.
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
  v.knownKeys('instrument', v.object('instrument options', options), ['meter', 'prefix']);
  const meter = options.meter ?? metrics.getMeter('breakwater');
  const prefix = options.prefix ?? 'breakwater';
  v.string('prefix', prefix);
  policiesOf(target); // a TypeError for a bad target before any instrument is created

  let byPrefix = instrumentations.get(meter);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instrumentations.set(meter, byPrefix);
  }
  let shared = byPrefix.get(prefix);
  if (shared === undefined) {
    shared = instruments(meter, prefix);
    byPrefix.set(prefix, shared);
  }
  const { observer, detach } = shared;
  const release = observer.observe(target);
  let disposed = false;
  return {
    dispose() {
      if (disposed) return;
      disposed = true;
      release();
      // The last instrumentation on this meter and prefix takes the observable callbacks with it.
      if (observer.size === 0 && byPrefix.get(prefix) === shared) {
        byPrefix.delete(prefix);
        detach();
      }
    },
  };
}

interface Instruments {
  readonly observer: Observer;
  /** Removes the observable callbacks. */
  readonly detach: () => void;
}

/**
 * The instruments of each meter and prefix: a policy reached by two `instrument` calls on
 * the same meter is listened to, counted and observed once.
 */
const instrumentations = new WeakMap<Meter, Map<string, Instruments>>();

function instruments(meter: Meter, prefix: string): Instruments {
  const calls = meter.createCounter(`${prefix}.calls`, { description: 'Calls by policy and outcome.' });
  const durations = meter.createHistogram(`${prefix}.call.duration`, {
    description: 'Duration of calls through a circuit breaker.',
    unit: 's',
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
  };
  const observer = new Observer(sink);

  const observeState = (result: ObservableResult) => {
    for (const breaker of observer.breakers) {
      for (const s of STATES) result.observe(s === breaker.state ? 1 : 0, { name: breaker.name, state: s });
    }
  };
  const observeInFlight = (result: ObservableResult) => {
    for (const b of observer.bulkheads) result.observe(b.inFlight, { name: b.name });
  };
  const observeQueued = (result: ObservableResult) => {
    for (const b of observer.bulkheads) result.observe(b.queued, { name: b.name });
  };
  state.addCallback(observeState);
  inFlight.addCallback(observeInFlight);
  queued.addCallback(observeQueued);

  return {
    observer,
    detach() {
      state.removeCallback(observeState);
      inFlight.removeCallback(observeInFlight);
      queued.removeCallback(observeQueued);
    },
  };
}
