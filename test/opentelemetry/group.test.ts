import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitBreakerGroup } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { collect, setup } from './collected.js';

const providers: MeterProvider[] = [];
afterEach(async () => {
  for (const p of providers.splice(0)) await p.shutdown();
});

describe('opentelemetry: a CircuitBreakerGroup', () => {
  it('records its breakers under its name as they come and go', async () => {
    const { reader, provider, meter } = setup();
    providers.push(provider);
    const hosts = new CircuitBreakerGroup({
      name: 'hosts',
      maxSize: 2,
      create: () => ({ failureThreshold: 1 }),
    });
    const handle = instrument(hosts, { meter });
    await hosts.execute('a', async () => 1);
    await hosts.execute('b', () => Promise.reject(new Error('down'))).catch(() => {});
    let c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'hosts' })).toMatchObject({
      closed: 1,
      open: 1,
    });
    expect(
      c.value('breakwater.calls', { name: 'hosts', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(1);
    await hosts.execute('c', async () => 1); // evicts a, the least recently used
    c = await collect(reader);
    expect(c.by('breakwater.circuit.state', 'state', { name: 'hosts' })).toMatchObject({
      closed: 1,
      open: 1,
    });
    expect(
      c.value('breakwater.calls', { name: 'hosts', policy: 'circuit-breaker', outcome: 'success' }),
    ).toBe(2);
    handle.dispose();
    expect(hosts.listenerCount('created') + hosts.listenerCount('evicted')).toBe(0);
  });
});
