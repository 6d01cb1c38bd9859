import { describe, expect, it } from 'vitest';
import { exponential, type Policy, type PolicyDefaults, pipeline, retry } from '../../src/index.js';
import { ADOPT_DEFAULTS } from '../../src/policy.js';
import { ManualClock, seededRandom } from '../../src/testing/index.js';

/** A policy that runs the function as is and records the defaults handed to it. */
function adopter(received: PolicyDefaults[]): Policy {
  return {
    execute: async (fn, options) => fn(options as never),
    [ADOPT_DEFAULTS]: (defaults: PolicyDefaults) => {
      received.push(defaults);
    },
  } as Policy;
}

const functionWithExecute = () =>
  Object.assign(() => 'not a policy', { execute: async (fn: () => unknown) => fn() });

describe('pipeline: which arguments are policies', () => {
  it('names the position of a policy whose execute cannot be read', () => {
    const hostile = {
      get execute(): never {
        throw new Error('no reading');
      },
    };
    expect(() => pipeline(retry(), hostile as never)).toThrow('pipeline: argument 2 could not be read');
    expect(() => pipeline(retry(), retry(), hostile as never)).toThrow(
      'pipeline: argument 3 could not be read',
    );
  });

  it('refuses a function with an execute method after the first argument', () => {
    expect(() => pipeline(retry(), functionWithExecute() as never)).toThrow(
      'pipeline: argument 2 must be a policy with execute(fn, options), got a function',
    );
  });

  it('refuses null after the first argument, naming it', () => {
    expect(() => pipeline(retry(), null as never)).toThrow(
      'pipeline: argument 2 must be a policy with execute(fn, options), got null',
    );
  });

  it('takes a leading function for the defaults object, and refuses it as such', () => {
    expect(() => pipeline(functionWithExecute() as never, retry())).toThrow(
      'pipeline defaults must be an object, got a function',
    );
  });

  it('takes a leading null for the defaults object, and refuses it as such', () => {
    expect(() => pipeline(null as never, retry())).toThrow('pipeline defaults must be an object, got null');
  });
});

describe('pipeline: defaults reach the policies only when there are some', () => {
  it('hands nothing to the policies when given no defaults, or an empty defaults object', () => {
    const received: PolicyDefaults[] = [];
    pipeline(adopter(received));
    pipeline({}, adopter(received));
    expect(received).toEqual([]);
  });

  it('hands a clock alone, or a random source alone, to every policy', () => {
    const received: PolicyDefaults[] = [];
    const clock = new ManualClock();
    const random = seededRandom(1);
    pipeline({ clock }, adopter(received), adopter(received));
    pipeline({ random }, adopter(received));
    expect(received).toEqual([{ clock }, { clock }, { random }]);
  });

  it('hands a random source given without a clock to a retry', async () => {
    const clock = new ManualClock();
    const r = retry({ clock, retries: 2, backoff: exponential({ initial: 100, jitter: 'full' }) });
    const delays: number[] = [];
    r.on('retried', (e) => delays.push(e.delay));
    const p = pipeline({ random: seededRandom(9) }, r);
    const call = p.execute(() => {
      throw new Error('down');
    });
    call.catch(() => {});
    await clock.advanceAsync(10_000);
    await expect(call).rejects.toThrow('down');
    const draws = seededRandom(9);
    expect(delays).toEqual([100, 200].map((cap) => draws() * cap));
  });
});
