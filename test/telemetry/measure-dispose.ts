/**
 * Measures what instrumented breakers leave behind once disposed: exposition size and heap,
 * for N breakers each instrumented on its own into one shared registry (or meter), as a
 * service that creates a breaker per tenant or per host would.
 * Run: `node --expose-gc --import tsx test/telemetry/measure-dispose.ts [N]` (not part of the test suite).
 */
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { CircuitBreaker } from '../../src/index.js';
import { instrument as instrumentOtel } from '../../src/opentelemetry/index.js';
import { instrument as instrumentPrometheus } from '../../src/prometheus/index.js';

class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const N = Number(process.argv[2] ?? 20_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapMiB(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const fmt = (n: number) => n.toFixed(1);
const signed = (n: number) => `${n < 0 ? '' : '+'}${fmt(n)}`;

async function traffic(breakers: CircuitBreaker[]): Promise<void> {
  const error = new Error('down');
  for (const b of breakers) {
    await b.execute(() => 1);
    await b.execute(() => Promise.reject(error)).catch(() => {});
  }
}

async function prometheus(): Promise<void> {
  const breakers = Array.from({ length: N }, (_, i) => new CircuitBreaker({ name: `b${i}` }));
  const registry = new Registry();
  const base = heapMiB();
  const handles = breakers.map((b) => instrumentPrometheus(b, { registry }));
  await traffic(breakers);
  const live = (await registry.metrics()).length;
  const liveHeap = heapMiB();
  for (const h of handles) h.dispose();
  handles.length = 0;
  const after = (await registry.metrics()).length;
  const afterHeap = heapMiB();
  console.log(
    `prometheus, ${N} breakers: exposition ${fmt(live / 2 ** 20)} MiB -> ${fmt(after / 2 ** 10)} KiB after dispose; ` +
      `heap ${signed(liveHeap - base)} MiB instrumented -> ${signed(afterHeap - base)} MiB after dispose`,
  );
}

/** `limit`: the SDK's cardinality limit per instrument (2,000 by default, beyond which it records an overflow series). */
async function opentelemetry(limit: number, temporality: AggregationTemporality): Promise<void> {
  const breakers = Array.from({ length: N }, (_, i) => new CircuitBreaker({ name: `b${i}` }));
  const reader = new Reader({
    cardinalitySelector: () => limit,
    aggregationTemporalitySelector: () => temporality,
  });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('measure');
  const points = async () => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .reduce((n, m) => n + m.dataPoints.length, 0);
  };
  const base = heapMiB();
  const handles = breakers.map((b) => instrumentOtel(b, { meter }));
  await traffic(breakers);
  const live = await points();
  const liveHeap = heapMiB();
  for (const h of handles) h.dispose();
  handles.length = 0;
  const first = await points();
  const after = await points();
  const afterHeap = heapMiB();
  console.log(
    `opentelemetry (${AggregationTemporality[temporality].toLowerCase()} reader, cardinality limit ${limit}), ${N} breakers: ${live} data points -> ${first} at the first collection after dispose, ${after} at the next; ` +
      `heap ${signed(liveHeap - base)} MiB instrumented -> ${signed(afterHeap - base)} MiB after dispose`,
  );
  await provider.shutdown();
}

await prometheus();
await opentelemetry(2_000, AggregationTemporality.CUMULATIVE);
await opentelemetry(1_000_000, AggregationTemporality.CUMULATIVE);
await opentelemetry(1_000_000, AggregationTemporality.DELTA);
