import { bw, check, cockatiel, fail, Opossum, ok, plainAwait, premade } from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

const OPEN_FOR = 1e12; // ms: stays open for the whole run

export const success: RatioCase = {
  kind: 'ratio',
  id: 'success',
  title: 'Success through a breaker',
  baselineLabel: '`await fn()`',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        check((await breaker.execute(ok)) === 1, 'breakwater returns the result');
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        const breaker = new Opossum(ok, { timeout: false });
        check((await breaker.fire()) === 1, 'opossum returns the result');
        return async () => {
          await breaker.fire();
        };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
          halfOpenAfter: 30_000,
          breaker: new cockatiel.ConsecutiveBreaker(5),
        });
        check((await breaker.execute(ok)) === 1, 'cockatiel returns the result');
        return async () => {
          await breaker.execute(ok);
        };
      },
    },
  ],
  target: { ratio: 2 },
  note: 'opossum with `timeout: false` (its default 10 s timeout sets a timer per call).',
};

/** Calls `fn` and counts how often the wrapped function really ran. */
function counting() {
  const counter = { calls: 0 };
  const fn = async () => {
    counter.calls++;
    return 1;
  };
  return { counter, fn };
}

export const fastFail: RatioCase = {
  kind: 'ratio',
  id: 'fast-fail',
  title: 'Rejection while open (fast-fail)',
  baselineLabel: 'caught `await` of a premade rejection',
  baseline: {
    name: 'baseline',
    setup: async () => {
      check((await fail().catch((e) => e)) === premade, 'fn rejects with the premade error');
      return async () => {
        try {
          await fail();
        } catch {}
      };
    },
  },
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const breaker = new bw.CircuitBreaker({ failureThreshold: 1, openTimeout: OPEN_FOR });
        await breaker.execute(fail).catch(() => {});
        const { counter, fn } = counting();
        check(
          bw.isBrokenCircuitError(await breaker.execute(fn).catch((e) => e)),
          'rejects with BrokenCircuitError',
        );
        check(counter.calls === 0, 'the function is not called while open');
        return async () => {
          try {
            await breaker.execute(fn);
          } catch {}
        };
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        const { counter, fn } = counting();
        const breaker = new Opossum(fn, { timeout: false, resetTimeout: OPEN_FOR });
        breaker.open();
        const error = await breaker.fire().catch((e) => e);
        check((error as { code?: string }).code === 'EOPENBREAKER', 'rejects with EOPENBREAKER');
        check(counter.calls === 0, 'the function is not called while open');
        return async () => {
          try {
            await breaker.fire();
          } catch {}
        };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
          halfOpenAfter: OPEN_FOR,
          breaker: new cockatiel.ConsecutiveBreaker(1),
        });
        await breaker.execute(fail).catch(() => {});
        const { counter, fn } = counting();
        check(
          cockatiel.isBrokenCircuitError(await breaker.execute(fn).catch((e) => e)),
          'rejects with BrokenCircuitError',
        );
        check(counter.calls === 0, 'the function is not called while open');
        return async () => {
          try {
            await breaker.execute(fn);
          } catch {}
        };
      },
    },
  ],
  target: { ratio: 1.5, fasterThan: { names: ['opossum', 'cockatiel'], factor: 3 } },
  note:
    'The "3x faster than both" half of the target assumed the anchors at ~5x this baseline (6.4 µs when the issue was written); ' +
    'here they run at ~3x it, so being 3x faster would mean rejecting faster than the baseline itself, a caught rejection, ' +
    'which breakwater must also produce. What breakwater adds to it is one Error built without a stack trace (~0.3 µs).',
};

/** A function that fails every other call: the window stays at 50 % failures, below the 60 % threshold. */
function alternating() {
  let n = 0;
  return async () => {
    if (++n % 2 === 0) throw premade;
    return 1;
  };
}

export const failurePath: RatioCase = {
  kind: 'ratio',
  id: 'failure-path',
  title: 'Closed, failing every other call, full window (1,000 calls recorded)',
  baselineLabel: 'caught `await` of the same function',
  baseline: {
    name: 'baseline',
    setup: async () => {
      const fn = alternating();
      return async () => {
        try {
          await fn();
        } catch {}
      };
    },
  },
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const fn = alternating();
        const breaker = new bw.CircuitBreaker({
          failureRateThreshold: 0.6,
          window: { type: 'count', size: 1_000 },
          minimumCalls: 100,
        });
        for (let i = 0; i < 1_000; i++) await breaker.execute(fn).catch(() => {});
        check(breaker.state === 'closed', 'still closed at 50 % failures');
        return async () => {
          try {
            await breaker.execute(fn);
          } catch {}
        };
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        const fn = alternating();
        const breaker = new Opossum(fn, {
          timeout: false,
          errorThresholdPercentage: 60,
          volumeThreshold: 100,
        });
        for (let i = 0; i < 1_000; i++) await breaker.fire().catch(() => {});
        check(breaker.closed, 'still closed at 50 % failures');
        return async () => {
          try {
            await breaker.fire();
          } catch {}
        };
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const fn = alternating();
        const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
          halfOpenAfter: 30_000,
          breaker: new cockatiel.CountBreaker({ threshold: 0.6, size: 1_000, minimumNumberOfCalls: 100 }),
        });
        for (let i = 0; i < 1_000; i++) await breaker.execute(fn).catch(() => {});
        check(breaker.state === cockatiel.CircuitState.Closed, 'still closed at 50 % failures');
        return async () => {
          try {
            await breaker.execute(fn);
          } catch {}
        };
      },
    },
  ],
  note: 'Rate mode over a count window of 1,000 (opossum: its rolling 10 s window, as it has no count window).',
};

const CONCURRENT = 10_000;

/** Starts `CONCURRENT` calls that stay pending until all have started, then settles them all. */
function concurrent(start: (fn: () => Promise<number>) => Promise<unknown>): () => Promise<void> {
  return async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fn = async () => {
      await gate;
      return 1;
    };
    const calls = new Array<Promise<unknown>>(CONCURRENT);
    for (let i = 0; i < CONCURRENT; i++) calls[i] = start(fn);
    release();
    await Promise.all(calls);
  };
}

export const concurrency: RatioCase = {
  kind: 'ratio',
  id: 'concurrent',
  title: '10,000 concurrent calls in flight through one breaker',
  baselineLabel: '10,000 concurrent `fn()`',
  perCall: CONCURRENT,
  baseline: { name: 'baseline', setup: async () => concurrent((fn) => fn()) },
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        const breaker = new bw.CircuitBreaker();
        const run = concurrent((fn) => breaker.execute(fn));
        await run();
        check(breaker.state === 'closed', 'all calls succeeded');
        return run;
      },
    },
    {
      name: 'opossum',
      setup: async () => {
        let gate: () => Promise<number> = ok;
        const breaker = new Opossum(() => gate(), { timeout: false });
        const run = concurrent((fn) => {
          gate = fn;
          return breaker.fire();
        });
        await run();
        check(breaker.closed, 'all calls succeeded');
        return run;
      },
    },
    {
      name: 'cockatiel',
      setup: async () => {
        const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
          halfOpenAfter: 30_000,
          breaker: new cockatiel.ConsecutiveBreaker(5),
        });
        const run = concurrent((fn) => breaker.execute(fn));
        await run();
        return run;
      },
    },
  ],
  target: { ratio: 1.5 },
};
