/**
 * Health and metrics routes in Fastify. Run: npx tsx examples/fastify-health-metrics.ts
 */
import { CircuitBreaker, HealthMonitor, pipeline, timeout } from 'breakwater';
import { instrument } from 'breakwater/prometheus';
import Fastify from 'fastify';
import { Registry } from 'prom-client';

const breaker = new CircuitBreaker({ name: 'search' });
const policy = pipeline(breaker, timeout(500));
const registry = new Registry();
instrument(policy, { registry });
const health = new HealthMonitor().register(breaker).register('disk', () => true);

const app = Fastify();
// Fastify routes return a value; the report's status picks the HTTP code.
app.get('/health', async (_request, reply) => {
  const report = await health.check();
  return reply.code(report.status === 'unhealthy' ? 503 : 200).send(report);
});
app.get('/metrics', async (_request, reply) =>
  reply.type(registry.contentType).send(await registry.metrics()),
);
app.get('/search', async () => policy.execute(async () => ({ hits: [] })));

// A function rather than top-level await, so the example also runs when pasted into a CommonJS project.
async function main(): Promise<void> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await fetch(`${base}/search`);
  const response = await fetch(`${base}/health`);
  console.log('GET /health', response.status, await response.text());
  console.log(
    (await (await fetch(`${base}/metrics`)).text())
      .split('\n')
      .filter((l) => l.includes('_calls_total{'))
      .join('\n'),
  );
  await app.close();
}

void main();
