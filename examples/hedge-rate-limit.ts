/**
 * Hedging, rate limiting and request coalescing in one pipeline, in front of a price service
 * whose latency has a long tail and which allows 12 requests a second:
 * - `coalesce` makes concurrent requests for the same product share one call;
 * - `retry` waits out the `retryAfter` of a `RateLimitedError`;
 * - `hedge` sends a second request when the first is slower than 95 % of recent ones;
 * - `rateLimit` keeps every request, hedges included, within the service's quota.
 * Run: npx tsx examples/hedge-rate-limit.ts
 */
import { coalesce, hedge, isRateLimitedError, pipeline, rateLimit, retry } from 'breakwater';

/** A price service: 5 ms mostly, 150 ms one time in ten; it stops work when its signal aborts. */
let requests = 0;
function fetchPrice(sku: string, signal: AbortSignal): Promise<number> {
  requests++;
  const ms = requests % 10 === 0 ? 150 : 5;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(100 + sku.length);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const dedupe = coalesce();
const retries = retry({ retries: 5, maxRetryAfter: 2_000 });
const hedging = hedge({
  delay: { percentile: 0.95, minSamples: 10, maxDelay: 50 },
  // A request the quota refused is not hedged: the call rejects and retry waits out retryAfter.
  shouldHedge: (error) => !isRateLimitedError(error),
});
const quota = rateLimit({ limit: 12, interval: 1_000 });
const policy = pipeline(dedupe, retries, hedging, quota);

const seen = { coalesced: 0, hedged: 0, wonByHedge: 0, limited: 0, waited: 0 };
dedupe.on('coalesced', () => seen.coalesced++);
hedging.on('hedged', () => seen.hedged++);
hedging.on('won', (e) => {
  if (e.attempt > 0) seen.wonByHedge++;
});
quota.on('rejected', () => seen.limited++);
retries.on('retried', (e) => {
  if (isRateLimitedError(e.error)) seen.waited += e.delay;
});

function price(sku: string): Promise<number> {
  return policy.execute(({ signal }) => fetchPrice(sku, signal), { key: `price:${sku}` });
}

// A function rather than top-level await, so the example also runs when pasted into a CommonJS project.
async function main(): Promise<void> {
  const started = Date.now();
  // Five waves of 12 requests for 4 products: 3 concurrent requests per product share a call.
  for (let wave = 0; wave < 5; wave++) {
    const skus = ['A-1', 'B-22', 'C-333', 'D-4444'];
    const prices = await Promise.all(skus.flatMap((sku) => [price(sku), price(sku), price(sku)]));
    console.log(`wave ${wave + 1}: ${prices.length} prices, e.g. ${skus[0]} = ${prices[0]}`);
  }
  console.log(
    `60 requests -> ${requests} service calls in ${Date.now() - started} ms; ` +
      `coalesced ${seen.coalesced}, hedged ${seen.hedged} (won ${seen.wonByHedge}), ` +
      `rate limited ${seen.limited} (retry waited ${Math.round(seen.waited)} ms in all)`,
  );
}

void main();
