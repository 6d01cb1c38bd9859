/**
 * Per-call overhead that `instrument()` adds to a circuit breaker, beside the
 * uninstrumented breaker in the same run, on the success path and on the failure path.
 * Run: `npx tsx benchmarks/instrument.ts`.
 *
 * - plain: no listener, so the breaker does not even read its clock.
 * - noop listener: one empty `succeeded`/`failed` listener: the cost of timing the call and emitting.
 * - prometheus: `instrument(breaker, { registry })` into a prom-client Registry.
 * - opentelemetry: `instrument(breaker, { meter })` on an SDK MeterProvider with a reader.
 *
 * Failures never open the circuit (the threshold is out of reach), so every failing call
 * runs the function and is counted as a failure.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { bench, do_not_optimize, run, summary } from 'mitata';
import { Registry } from 'prom-client';
import { CircuitBreaker } from '../src/index.js';
import { instrument as instrumentOtel } from '../src/opentelemetry/index.js';
import { instrument as instrumentPrometheus } from '../src/prometheus/index.js';

class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const NEVER = 2 ** 31;
const make = (name: string) => new CircuitBreaker({ name, failureThreshold: NEVER });

const plain = make('plain');
const noop = make('noop');
noop.on('succeeded', () => {});
noop.on('failed', () => {});
const prometheus = make('prometheus');
const registry = new Registry();
instrumentPrometheus(prometheus, { registry });
const otel = make('otel');
const provider = new MeterProvider({ readers: [new Reader()] });
instrumentOtel(otel, { meter: provider.getMeter('bench') });

const value = Promise.resolve(42);
const ok = () => value;
const error = new Error('down');
const fail = () => Promise.reject(error);

const cases: [string, CircuitBreaker][] = [
  ['plain breaker', plain],
  ['breaker + noop listener', noop],
  ['breaker + instrument (prometheus)', prometheus],
  ['breaker + instrument (opentelemetry)', otel],
];

summary(() => {
  for (const [label, breaker] of cases) {
    const b = bench(`success: ${label}`, async () => {
      do_not_optimize(await breaker.execute(ok));
    });
    if (breaker === plain) b.baseline(true);
  }
});

summary(() => {
  for (const [label, breaker] of cases) {
    const b = bench(`failure: ${label}`, async () => {
      try {
        await breaker.execute(fail);
      } catch (e) {
        do_not_optimize(e);
      }
    });
    if (breaker === plain) b.baseline(true);
  }
});

await run();

// The instrumented breakers recorded what they ran (a sanity check, not a measurement).
const text = await registry.metrics();
const calls =
  /breakwater_calls_total\{name="prometheus",policy="circuit-breaker",outcome="success"\} (\d+)/.exec(text);
console.log(
  `\nprometheus recorded ${calls?.[1] ?? 0} successful calls; breakers still ${[plain, noop, prometheus, otel].map((b) => b.state).join('/')}`,
);
await provider.shutdown();
