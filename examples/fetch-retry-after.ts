/**
 * Wrapping `fetch`: HTTP 429/503 become errors that carry `retryAfter` from the
 * `Retry-After` header, which `retry` honours when it is longer than its own backoff.
 * Run: npx tsx examples/fetch-retry-after.ts
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CircuitBreaker, exponential, pipeline, retry, timeout } from 'breakwater';

/** An HTTP error; `retryAfter` (ms) is read by `retry`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfter: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

/** `Retry-After` is either seconds or an HTTP date. */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const policy = pipeline(
  retry({
    retries: 3,
    backoff: exponential({ initial: 100, max: 2_000, jitter: 'full' }),
    shouldRetry: (error) => !(error instanceof HttpError) || error.status === 429 || error.status >= 500,
  }),
  new CircuitBreaker({
    name: 'inventory-api',
    failureThreshold: 5,
    isFailure: (e) => !(e instanceof HttpError && e.status < 500),
  }),
  timeout(1_000),
);

async function getJson(url: string): Promise<unknown> {
  return policy.execute(async ({ signal }) => {
    const response = await fetch(url, { signal });
    if (!response.ok)
      throw new HttpError(response.status, parseRetryAfter(response.headers.get('retry-after')));
    return response.json();
  });
}

// A local server that is rate limited on the first request.
let hits = 0;
const server = http.createServer((_req, res) => {
  if (++hits === 1) res.writeHead(429, { 'retry-after': '1' }).end();
  else
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sku: 'A-1', stock: 7 }));
});
// A function rather than top-level await, so the example also runs when pasted into a CommonJS project.
async function main(): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const started = Date.now();
  const body = await getJson(`http://127.0.0.1:${(server.address() as AddressInfo).port}/stock`);
  console.log(body, `after ${Date.now() - started} ms and ${hits} requests (waited out Retry-After: 1)`);
  server.close();
}

void main();
