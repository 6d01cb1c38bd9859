import type { CircuitBreakerGroupOptions, CircuitBreakerGroup as Group } from '../../src/group/index.js';
import { bw, check, readsSignal } from '../lib/libraries.js';
import type { Contender, RatioCase } from '../lib/types.js';

/** The build's CircuitBreakerGroup (typed from the sources until src/index.ts exports it). */
function Groups(): typeof Group {
  const ctor = (bw as unknown as { CircuitBreakerGroup?: typeof Group }).CircuitBreakerGroup;
  check(typeof ctor === 'function', 'the build exports CircuitBreakerGroup');
  return ctor;
}

const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `tenant-${i}`);

/**
 * `group.execute(key, fn)` cycling over `keys` distinct keys. With `keys` above `maxSize`
 * every call makes a breaker and evicts the least recently used one.
 */
function groupRow(name: string, keys: number, options: CircuitBreakerGroupOptions = {}): Contender {
  return {
    name,
    setup: async () => {
      const group = new (Groups())(options);
      const names = keysOf(keys);
      let created = 0;
      group.on('created', () => created++);
      for (const key of names.slice(0, Math.min(keys, group.maxSize))) await group.execute(key, readsSignal);
      let i = 0;
      return {
        op: () => {
          const key = names[i]!;
          i = i + 1 === keys ? 0 : i + 1;
          return group.execute(key, readsSignal);
        },
        verify: (ops) => {
          check(group.size === Math.min(keys, group.maxSize), 'the group holds min(keys, maxSize) breakers');
          if (keys <= group.maxSize) check(created === keys, 'no breaker was made twice');
          else check(created >= ops, 'every call made a breaker');
        },
      };
    },
  };
}

/** The same calls spread over 10,000 plain breakers, no group: what touching that many breakers costs by itself. */
const arrayRow: Contender = {
  name: '10,000 breakers in an array, no group',
  setup: async () => {
    const breakers = keysOf(10_000).map((name) => new bw.CircuitBreaker({ name }));
    for (const breaker of breakers) await breaker.execute(readsSignal);
    let i = 0;
    return {
      op: () => {
        const breaker = breakers[i]!;
        i = i + 1 === breakers.length ? 0 : i + 1;
        return breaker.execute(readsSignal);
      },
    };
  },
};

export const group: RatioCase = {
  kind: 'ratio',
  id: 'group',
  title: 'Keyed breakers: `group.execute(key, fn)` against one breaker',
  baselineLabel: '`breaker.execute(fn)` on one `new CircuitBreaker()`',
  baseline: {
    name: 'baseline',
    setup: async () => {
      const breaker = new bw.CircuitBreaker();
      check((await breaker.execute(readsSignal)) === 1, 'returns the result');
      return {
        op: () => breaker.execute(readsSignal),
        verify: () => check(breaker.state === 'closed', 'closed'),
      };
    },
  },
  contenders: [
    arrayRow,
    groupRow('group, 1 key', 1),
    groupRow('group, 10,000 keys', 10_000),
    groupRow('group, 10,000 keys, idleTimeout 10 min', 10_000, { idleTimeout: 600_000 }),
    groupRow('group, 100,000 keys at maxSize 10,000 (a breaker made per call)', 100_000),
  ],
  note: 'The 10,000-key rows use every breaker in turn (the least recently used each time), as does the array row, which shows what spreading calls over 10,000 breakers costs without a group; the last row evicts one breaker and makes one on every call.',
};
