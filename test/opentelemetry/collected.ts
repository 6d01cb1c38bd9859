import type { Attributes, Meter } from '@opentelemetry/api';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { expect } from 'vitest';

/** A reader whose `collect()` the test calls: what an exporter would be handed, on demand. */
export class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One collection, read by instrument name and exact attributes. */
export class Collected {
  constructor(readonly metrics: MetricData[]) {}

  get names(): string[] {
    return this.metrics.map((m) => m.descriptor.name).sort();
  }

  metric(name: string): MetricData | undefined {
    return this.metrics.find((m) => m.descriptor.name === name);
  }

  points(name: string): { attributes: Attributes; value: unknown }[] {
    return (this.metric(name)?.dataPoints ?? []) as { attributes: Attributes; value: unknown }[];
  }

  /** The value of the data point with exactly these attributes. */
  value<V = number>(name: string, attributes: Attributes): V | undefined {
    const keys = Object.keys(attributes);
    const found = this.points(name).filter(
      (p) =>
        Object.keys(p.attributes).length === keys.length &&
        keys.every((k) => p.attributes[k] === attributes[k]),
    );
    if (found.length > 1) throw new Error(`${found.length} points of ${name} ${JSON.stringify(attributes)}`);
    return found[0]?.value as V | undefined;
  }

  /** `{ attributeValue: value }` over the points of `name` whose attributes include `where`. */
  by(name: string, key: string, where: Attributes = {}): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const p of this.points(name)) {
      if (Object.entries(where).every(([k, v]) => p.attributes[k] === v))
        out[String(p.attributes[key])] = p.value;
    }
    return out;
  }
}

export async function collect(reader: MetricReader): Promise<Collected> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return new Collected(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics));
}

export function setup() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  return { reader, provider, meter: provider.getMeter('test') };
}

/** `meter`, recording the name of every method called on it. */
export function recording(meter: Meter): { meter: Meter; calls: string[] } {
  const calls: string[] = [];
  const wrapped = new Proxy(meter, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { meter: wrapped, calls };
}
