/**
 * A live dashboard in Fastify. Run: npx tsx examples/dashboard-fastify.ts
 * (SERVE=1 keeps it running; open the printed URL in a browser.)
 */
import { randomBytes } from 'node:crypto';
import { CircuitBreaker, HealthMonitor, pipeline, timeout } from 'breakwater';
import { dashboard } from 'breakwater/dashboard';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

const breaker = new CircuitBreaker({ name: 'search' });
const policy = pipeline(breaker, timeout(500));
const health = new HealthMonitor().register(breaker).register('disk', () => true);

const token = process.env.DASHBOARD_TOKEN ?? randomBytes(24).toString('hex');
// Fastify hands the handler full paths: basePath says where the dashboard lives.
const board = dashboard({ policies: [policy], health, basePath: '/dashboard', controls: { token } });

const app = Fastify();
// The handler writes the raw response itself (the event stream stays open): hijack the reply.
const mount = (request: FastifyRequest, reply: FastifyReply) => {
  reply.hijack();
  board(request.raw, reply.raw);
};
app.all('/dashboard', mount);
app.all('/dashboard/*', mount);
app.get('/search', async () => policy.execute(async () => ({ hits: [] })));

// A function rather than top-level await, so the example also runs when pasted into a CommonJS project.
async function main(): Promise<void> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  console.log(`dashboard: ${base}/dashboard/`);
  if (process.env.SERVE === '1') return;
  await fetch(`${base}/search`);
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
  const refused = await fetch(`${base}/dashboard/breakers/search/isolate`, { method: 'POST' });
  console.log('POST isolate without the token', refused.status);
  const done = await fetch(`${base}/dashboard/breakers/search/isolate`, {
    method: 'POST',
    headers: { 'x-breakwater-token': token },
  });
  console.log('POST isolate with the token', done.status, JSON.stringify(await done.json()));
  const state = (await (await fetch(`${base}/dashboard/state`)).json()) as { breakers: { state: string }[] };
  console.log('GET /dashboard/state breaker', state.breakers[0]?.state);
  board.close();
  await app.close();
}

void main();
