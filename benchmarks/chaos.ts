/**
 * Per-call cost of an injection policy that injects nothing (enabled: false, rate: 0),
 * beside a plain `await fn()` in the same run. Run: `npx tsx benchmarks/chaos.ts`.
 *
 * The first group awaits each call, as a caller does; the second only makes the call, so
 * the policy's own overhead is not hidden by the cost of an await.
 */
import { bench, do_not_optimize, run, summary } from 'mitata';
import { injectFault, injectLatency } from '../src/chaos/index.js';

const result = Promise.resolve(42);
const fn = () => result;

const disabled = injectFault({ rate: 1, enabled: false });
const zeroRate = injectFault({ rate: 0 });
const enabledFnOff = injectLatency({ rate: 1, latency: 800, enabled: () => false });
// Enabled with a non-zero rate, but every draw (0.5) misses the rate: the cost of deciding.
const notChosen = injectFault({ rate: 0.25, random: () => 0.5 });

summary(() => {
  bench('await fn()', async () => {
    do_not_optimize(await fn());
  }).baseline(true);
  bench('await disabled.execute(fn)  [enabled: false]', async () => {
    do_not_optimize(await disabled.execute(fn));
  });
  bench('await zeroRate.execute(fn)  [rate: 0]', async () => {
    do_not_optimize(await zeroRate.execute(fn));
  });
  bench('await execute(fn)  [enabled: () => false]', async () => {
    do_not_optimize(await enabledFnOff.execute(fn));
  });
  bench('await execute(fn)  [rate 0.25, draw misses]', async () => {
    do_not_optimize(await notChosen.execute(fn));
  });
});

summary(() => {
  bench('fn()', () => do_not_optimize(fn())).baseline(true);
  bench('disabled.execute(fn)  [enabled: false]', () => do_not_optimize(disabled.execute(fn)));
  bench('zeroRate.execute(fn)  [rate: 0]', () => do_not_optimize(zeroRate.execute(fn)));
  bench('execute(fn)  [enabled: () => false]', () => do_not_optimize(enabledFnOff.execute(fn)));
  bench('execute(fn)  [rate 0.25, draw misses]', () => do_not_optimize(notChosen.execute(fn)));
});

await run();
