/**
 * The first 10,000 breakers of a fresh process that has imported one library and nothing else:
 * what a service that makes a breaker per tenant or host meets, interpreter and young-generation
 * collections included. Plain JavaScript, run by plain `node`: a worker that has loaded tsx
 * and the harness has already grown V8's young generation, which hides most of the
 * collections (20 ms there against ~50 ms here for breakwater). The factories follow
 * `factories` in cases/scale.ts. Prints one JSON line; run.ts takes the median over processes.
 *
 *   node benchmarks/lib/cold.mjs <breakwater|opossum|cockatiel>
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const library = process.argv[2];
const dist = process.env.BREAKWATER_DIST
  ? pathToFileURL(`${process.env.BREAKWATER_DIST.replace(/\/$/, '')}/index.js`).href
  : new URL('../../dist/index.js', import.meta.url).href;

const work = async (signal) => {
  signal.throwIfAborted();
  return 1;
};

let make;
if (library === 'breakwater') {
  const { CircuitBreaker } = await import(dist);
  make = () => new CircuitBreaker();
} else if (library === 'opossum') {
  const { default: Opossum } = await import('opossum');
  make = () => new Opossum(work);
} else if (library === 'cockatiel') {
  const { circuitBreaker, handleAll, ConsecutiveBreaker } = await import('cockatiel');
  make = () => circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) });
} else {
  throw new Error(`unknown library ${library}`);
}

// Let the import's own work (compilation, its garbage) finish first: it is not the breakers'.
await new Promise((resolve) => setTimeout(resolve, 50));
let collectionMs = 0;
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    collectionMs += entry.duration;
  }
});
observer.observe({ entryTypes: ['gc'] });

const N = 10_000;
const kept = new Array(N);
const t = performance.now();
for (let i = 0; i < N; i++) kept[i] = make();
const ms = performance.now() - t;

await new Promise((resolve) => setTimeout(resolve, 10)); // GC entries arrive asynchronously
observer.disconnect();
console.log(
  JSON.stringify({
    'create 10k, cold process (ms)': Math.round(ms * 100) / 100,
    'GC pauses during it (ms)': Math.round(collectionMs * 100) / 100,
    breakers: kept.length,
  }),
);
process.exit(0); // opossum's interval timers are unref'd, but do not wait on anything
