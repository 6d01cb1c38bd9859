import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitBreakerGroup } from '../../src/index.js';
import { instrument } from '../../src/prometheus/index.js';
import { Scrape } from './exposition.js';

const fail = () => Promise.reject(new Error('down'));
const ok = () => Promise.resolve(1);

async function scrape(registry: Registry): Promise<Scrape> {
  return new Scrape(await registry.metrics());
}

/** The group's breaker calls of `outcome`, as scraped. */
function calls(s: Scrape, outcome: string): number | undefined {
  return s.value('breakwater_calls_total', { name: 'hosts', policy: 'circuit-breaker', outcome });
}

describe('prometheus: a CircuitBreakerGroup', () => {
  it('records its breakers under its name as they come and go: states counted, calls summed', async () => {
    const registry = new Registry();
    const hosts = new CircuitBreakerGroup({
      name: 'hosts',
      maxSize: 2,
      create: () => ({ failureThreshold: 1 }),
    });
    await hosts.execute('a', ok); // made before instrument(): picked up too
    const handle = instrument(hosts, { registry });
    await hosts.execute('b', fail).catch(() => {}); // b opens
    await hosts.execute('a', ok);
    let s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'hosts' })).toMatchObject({
      closed: 1,
      open: 1,
    });
    expect(calls(s, 'success')).toBe(1);
    expect(calls(s, 'failure')).toBe(1);
    expect(
      s.value('breakwater_circuit_transitions_total', { name: 'hosts', from: 'closed', to: 'open' }),
    ).toBe(1);

    // c evicts b, the least recently used (open), and is counted in its place.
    await hosts.execute('c', ok);
    s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'hosts' })).toMatchObject({
      closed: 2,
      open: 0,
    });
    expect(calls(s, 'success')).toBe(2);

    handle.dispose();
    s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'hosts' })).toEqual({});
    expect(hosts.listenerCount('created') + hosts.listenerCount('evicted')).toBe(0);
    for (const [, breaker] of hosts) expect(breaker.listenerCount('stateChanged')).toBe(0);
  });

  it('stops counting a breaker the group evicted', async () => {
    const registry = new Registry();
    const hosts = new CircuitBreakerGroup({
      name: 'hosts',
      maxSize: 1,
      create: () => ({ failureThreshold: 1 }),
    });
    const handle = instrument(hosts, { registry });
    await hosts.execute('a', fail).catch(() => {});
    const first = hosts.peek('a')!;
    await hosts.execute('b', ok); // evicts a (open)
    await first.execute(ok).catch(() => {}); // a breaker no longer in the group: not recorded
    const s = await scrape(registry);
    expect(s.by('breakwater_circuit_state', 'state', { name: 'hosts' })).toMatchObject({
      closed: 1,
      open: 0,
    });
    expect(calls(s, 'success')).toBe(1);
    expect(calls(s, 'rejected') ?? 0).toBe(0);
    handle.dispose();
  });

  it('refuses a group named like a breaker in the same metrics, and the reverse, leaving nothing behind', () => {
    const registry = new Registry();
    const breaker = new CircuitBreaker({ name: 'hosts' });
    const hosts = new CircuitBreakerGroup({ name: 'hosts' });
    const first = instrument(breaker, { registry });
    expect(() => instrument(hosts, { registry })).toThrow(
      /group "hosts" is named like another breaker or group/,
    );
    expect(hosts.listenerCount('created')).toBe(0);
    first.dispose();
    const second = instrument(hosts, { registry });
    expect(() => instrument(breaker, { registry })).toThrow(/named like the circuit breaker group "hosts"/);
    expect(() =>
      instrument([hosts, new CircuitBreakerGroup({ name: 'hosts' })], { registry: new Registry() }),
    ).toThrow(/group "hosts" is named like another breaker or group/);
    second.dispose();
  });
});
