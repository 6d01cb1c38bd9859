import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/redis/queue-store.js';
import { storeContract } from '../deferred/contract.js';
import { requireService } from '../helpers/services.js';

const available = await requireService('Redis', '127.0.0.1', 6379);
const RUN = `bw-test:q:${process.pid}:${Date.now().toString(36)}`;
let prefixes = 0;

describe.runIf(available)('redisStore', () => {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  beforeAll(async () => {
    await client.connect();
  });
  afterAll(async () => {
    // Every key this run made, whatever the test.
    for await (const keys of client.scanIterator({ MATCH: `${RUN}:*`, COUNT: 100 })) {
      if (keys.length > 0) await client.del(keys);
    }
    await client.quit();
  });

  storeContract(
    'redisStore',
    async () => {
      const prefix = `${RUN}:${++prefixes}`;
      const store = redisStore({ client, prefix });
      return {
        store,
        corrupt: async (id) => {
          // Entries cannot change: replace the job's entry by one whose data does not parse.
          for (let rank = 0; rank < 5; rank++) {
            const stream = `${prefix}:s${rank}`;
            for (const entry of (await client.xRange(stream, '-', '+')) ?? []) {
              if (entry === null || entry.message?.id !== id) continue;
              await client.xDel(stream, entry.id);
              await client.xAdd(stream, '*', { id, data: '{not json' });
            }
          }
        },
      };
    },
    { corrupt: true, extend: true },
  );

  it('validates its options', () => {
    expect(() => redisStore({} as never)).toThrow(/client must have sendCommand/);
    expect(() => redisStore({ client, prefix: '' })).toThrow(/prefix must be a non-empty string/);
    expect(() => redisStore({ client, prefx: 'x' } as never)).toThrow(/unknown option "prefx"/);
  });
});
