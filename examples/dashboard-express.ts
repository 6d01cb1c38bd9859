/**
 * A live dashboard in Express. Run: npx tsx examples/dashboard-express.ts
 * (SERVE=1 keeps it running; open the printed URL in a browser.)
 */
import { randomBytes } from 'node:crypto';
import { bulkhead, CircuitBreaker, HealthMonitor, pipeline, timeout } from 'breakwater';
import { dashboard } from 'breakwater/dashboard';
import express from 'express';

const breaker = new CircuitBreaker({ name: 'orders-db' });
const pool = bulkhead({ name: 'orders-pool', maxConcurrent: 10, maxQueue: 50 });
const policy = pipeline(pool, breaker, timeout(1_000));
const health = new HealthMonitor().register(breaker, { critical: true }).register(pool);

// The token lets its holder isolate breakers: read it from a secret, never from code or a URL.
const token = process.env.DASHBOARD_TOKEN ?? randomBytes(24).toString('hex');
const board = dashboard({ policies: [policy], health, title: 'Orders service', controls: { token } });

const app = express();
app.use('/dashboard', board); // Express strips the mount path: no basePath needed
app.get('/orders/:id', async (req, res) => {
  res.json(await policy.execute(async () => ({ id: req.params.id })));
});

const server = app.listen(0, '127.0.0.1', async () => {
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  console.log(`dashboard: ${base}/dashboard/`);
  if (process.env.SERVE === '1') return;
  await fetch(`${base}/orders/1`);
  const page = await fetch(`${base}/dashboard/`);
  console.log(
    'GET /dashboard/',
    page.status,
    page.headers.get('content-type'),
    `${(await page.text()).length} bytes`,
  );
  // The page's live updates: one Server-Sent Events stream; read its first update, then leave.
  const leave = new AbortController();
  const stream = await fetch(`${base}/dashboard/events`, { signal: leave.signal });
  const reader = stream.body!.getReader();
  let text = '';
  while (!text.includes('\n\ndata: ') && !text.startsWith('data: '))
    text += new TextDecoder().decode((await reader.read()).value);
  leave.abort();
  console.log(
    'GET /dashboard/events',
    stream.headers.get('content-type'),
    text.includes('"state":"closed"') ? 'breaker closed' : text,
  );
  const refused = await fetch(`${base}/dashboard/breakers/orders-db/isolate`, { method: 'POST' });
  console.log('POST isolate without the token', refused.status);
  const done = await fetch(`${base}/dashboard/breakers/orders-db/isolate`, {
    method: 'POST',
    headers: { 'x-breakwater-token': token },
  });
  console.log('POST isolate with the token', done.status, JSON.stringify(await done.json()));
  const state = (await (await fetch(`${base}/dashboard/state`)).json()) as { breakers: { state: string }[] };
  console.log('GET /dashboard/state breaker', state.breakers[0]?.state);
  board.close(); // ends any open event stream and removes the dashboard's listeners
  server.close();
});
