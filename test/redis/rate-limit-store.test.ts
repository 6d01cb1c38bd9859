import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPSILON, type Meter, SlidingLog, TokenBucket } from '../../src/rate-limit/meter.js';
import type { RateLimitRule } from '../../src/rate-limit/store.js';
import { redisRateLimitStore } from '../../src/redis/index.js';
import { RATE_SCRIPTS, rateKeysOf, takePermit } from '../../src/redis/rate-limit-store.js';
import type { RedisCommandClient } from '../../src/redis/scripts.js';
import { requireService } from '../helpers/services.js';

const available = await requireService('Redis', '127.0.0.1', 6379);
const RUN = `bw-test:rate:${process.pid}:${Date.now().toString(36)}`;
let prefixes = 0;

const fake: RedisCommandClient = { sendCommand: async () => null };

describe('redisRateLimitStore, without Redis', () => {
  it('fills in the documented defaults', () => {
    expect(redisRateLimitStore({ client: fake }).commandTimeout).toBe(250);
  });

  it('refuses bad options, naming the option and the value', () => {
    expect(() => redisRateLimitStore({ client: {} as never })).toThrow(/client must have sendCommand/);
    expect(() => redisRateLimitStore({ client: fake, prefix: '' })).toThrow(
      /prefix must be a non-empty string/,
    );
    expect(() => redisRateLimitStore({ client: fake, commandTimeout: 0 })).toThrow(
      /commandTimeout must be a finite number of ms in \[1, 2147483647\], got 0/,
    );
    expect(() => redisRateLimitStore({ client: fake, comandTimeout: 5 } as never)).toThrow(
      /unknown option "comandTimeout"/,
    );
  });

  it('keeps the keys of a bucket in one Cluster slot, and scans no key space', () => {
    expect(rateKeysOf('shop', 'partner', 'tenant-7')).toEqual([
      'shop:rate:{partner:tenant-7}:b',
      'shop:rate:{partner:tenant-7}:n',
    ]);
    for (const s of Object.values(RATE_SCRIPTS)) expect(s.source).not.toMatch(/'(KEYS|SCAN)'/);
  });

  it('refuses a reply that is not a wait', async () => {
    const odd: RedisCommandClient = { sendCommand: async () => 'soon' };
    const rule: RateLimitRule = { limit: 1, interval: 1_000, burst: 1, strategy: 'token-bucket' };
    await expect(redisRateLimitStore({ client: odd }).take('p', '', rule)).rejects.toThrow(
      /unexpected reply from a rate-limit script: "soon"/,
    );
  });
});

describe.runIf(available)('redisRateLimitStore on Redis', () => {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  const others = [0, 1, 2].map(() => createClient({ url: 'redis://127.0.0.1:6379' }));
  beforeAll(async () => {
    await Promise.all([client, ...others].map((c) => c.connect()));
  });
  afterAll(async () => {
    for await (const keys of client.scanIterator({ MATCH: `${RUN}:*`, COUNT: 100 })) {
      if (keys.length > 0) await client.del(keys);
    }
    await Promise.all([client, ...others].map((c) => c.quit()));
  });

  const local = (rule: RateLimitRule): Meter =>
    rule.strategy === 'token-bucket'
      ? new TokenBucket(rule.limit, rule.interval, rule.burst!)
      : new SlidingLog(rule.limit, rule.interval);

  for (const strategy of ['token-bucket', 'sliding-window'] as const) {
    it(`${strategy}: admits and answers waits exactly as the in-process bucket does, for any arrivals (property)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 10, max: 500 }),
          fc.integer({ min: 1, max: 6 }),
          // Quarter ms, or exactly one interval: arrivals that land on a window's edge.
          fc.array(fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(-1)), {
            minLength: 1,
            maxLength: 25,
          }),
          async (limit, interval, burst, gaps) => {
            const rule: RateLimitRule = {
              limit,
              interval,
              burst: strategy === 'token-bucket' ? burst : undefined,
              strategy,
            };
            const prefix = `${RUN}:${++prefixes}`;
            const meter = local(rule);
            let now = 1_000_000;
            for (const gap of gaps) {
              now += gap === -1 ? interval : gap / 4;
              const wait = await takePermit(client, prefix, 'p', 'k', rule, String(now));
              const free = meter.nextFree(now, 0);
              if (free <= now + EPSILON) {
                expect(wait).toBe(0);
                meter.take(now);
              } else {
                expect(wait).toBeCloseTo(free - now, 6);
              }
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('token-bucket: its key expires once the bucket is full again', async () => {
    const prefix = `${RUN}:${++prefixes}`;
    const rule: RateLimitRule = { limit: 10, interval: 1_000, burst: 5, strategy: 'token-bucket' };
    for (let i = 0; i < 3; i++) expect(await takePermit(client, prefix, 'p', 'k', rule, '5000')).toBe(0);
    const [bucket] = rateKeysOf(prefix, 'p', 'k');
    // Three permits of 100 ms each: full again 300 ms on.
    expect(await client.pTTL(bucket)).toBeGreaterThan(250);
    expect(await client.pTTL(bucket)).toBeLessThanOrEqual(300);
  });

  it('processes racing on one bucket, on the server clock, are admitted no more than the bucket holds', async () => {
    const store = (c: RedisCommandClient) => redisRateLimitStore({ client: c, prefix: `${RUN}:race` });
    const stores = others.map((c) => store(c));
    for (const [strategy, allowed] of [
      ['token-bucket', 7],
      ['sliding-window', 9],
    ] as const) {
      const rule: RateLimitRule = {
        limit: strategy === 'token-bucket' ? 3 : 9,
        interval: 60_000,
        burst: strategy === 'token-bucket' ? 7 : undefined,
        strategy,
      };
      const waits = await Promise.all(
        Array.from({ length: 60 }, (_, i) => stores[i % stores.length]!.take('race', strategy, rule)),
      );
      expect(waits.filter((w) => w === 0)).toHaveLength(allowed);
      for (const w of waits.filter((x) => x > 0)) expect(w).toBeLessThanOrEqual(60_000);
    }
  });
});
