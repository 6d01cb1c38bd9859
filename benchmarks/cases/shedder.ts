import { bw, check, plainAwait, readsSignal } from '../lib/libraries.js';
import type { RatioCase } from '../lib/types.js';

/**
 * What every call through an idle load shedder pays: the sampler runs on its own timer, so
 * a call reads the last decision (one property read and a comparison), never a measurement.
 */
export const shedderIdle: RatioCase = {
  kind: 'ratio',
  id: 'shedder-idle',
  title: 'Load shedder, no pressure',
  baselineLabel: '`await work(signal)`, the same call without a shedder',
  baseline: plainAwait,
  contenders: [
    {
      name: 'breakwater',
      setup: async () => {
        // Limits far above anything this process reaches: the shedder admits every call.
        const shedder = bw.loadShedder({ maxEventLoopDelay: 60_000, maxHeapUsedBytes: 2 ** 50 });
        check(shedder.shedding.length === 0, 'sheds nothing');
        check((await shedder.execute(readsSignal, { priority: 'background' })) === 1, 'returns the result');
        return {
          op: () => shedder.execute(readsSignal),
          verify: () => check(shedder.shedding.length === 0, 'shed nothing while timed'),
        };
      },
    },
  ],
  targets: [{ row: 'breakwater', ratio: 1.2, source: 'issue 9' }],
};
