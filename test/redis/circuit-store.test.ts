import { describe, expect, it } from 'vitest';
import { redisCircuitStore } from '../../src/redis/index.js';
import { keysOf, type RedisCommandClient, runScript, SCRIPTS } from '../../src/redis/scripts.js';

const client: RedisCommandClient = { sendCommand: async () => null };

describe('redisCircuitStore', () => {
  it('fills in the documented defaults', () => {
    expect(redisCircuitStore({ client }).timing).toEqual({
      syncInterval: 1_000,
      flushInterval: 100,
      flushSize: 1_000,
      commandTimeout: 250,
      probeLease: 30_000,
    });
  });

  it('refuses bad options, naming the option and the value', () => {
    expect(() => redisCircuitStore({ client, syncInterval: 0 })).toThrow(
      /syncInterval must be a finite number of ms in \[1, 2147483647\], got 0/,
    );
    expect(() => redisCircuitStore({ client, flushSize: 1.5 })).toThrow(/flushSize must be an integer/);
    expect(() => redisCircuitStore({ client, prefix: '' })).toThrow(/prefix must be a non-empty string/);
    expect(() => redisCircuitStore({ client: {} as never })).toThrow(/client must have sendCommand/);
    expect(() => redisCircuitStore({ client, subscriber: {} as never })).toThrow(/subscriber must have/);
    expect(() => redisCircuitStore({ client, syncIntervl: 5 } as never)).toThrow(
      /unknown option "syncIntervl"/,
    );
  });

  it('keeps every key of a circuit in one Cluster slot (one hash tag)', () => {
    expect(keysOf('shop', 'db')).toEqual(['shop:{db}:s', 'shop:{db}:w', 'shop:{db}:r', 'shop:{db}:p']);
  });

  it('never scans the key space', () => {
    for (const script of Object.values(SCRIPTS)) {
      expect(script.source).not.toMatch(/'(KEYS|SCAN)'/);
    }
  });

  it('runs a script by EVALSHA, and by EVAL when the server answers NOSCRIPT', async () => {
    const sent: string[] = [];
    const forgetful: RedisCommandClient = {
      sendCommand: async (args) => {
        sent.push(args[0]!);
        if (args[0] === 'EVALSHA') throw new Error('NOSCRIPT No matching script. Please use EVAL.');
        return 'done';
      },
    };
    expect(await runScript(forgetful, SCRIPTS.read, ['k'], ['a'])).toBe('done');
    expect(sent).toEqual(['EVALSHA', 'EVAL']);
  });

  it('passes any other error through', async () => {
    const down: RedisCommandClient = {
      sendCommand: async () => {
        throw new Error('connection lost');
      },
    };
    await expect(runScript(down, SCRIPTS.read, ['k'], [])).rejects.toThrow('connection lost');
  });
});
