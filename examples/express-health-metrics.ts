/**
 * Health and metrics routes in Express. Run: npx tsx examples/express-health-metrics.ts
 */
import { CircuitBreaker, HealthMonitor, pipeline, retry, timeout } from 'breakwater';
import { instrument } from 'breakwater/prometheus';
import express from 'express';
import { Registry } from 'prom-client';

const breaker = new CircuitBreaker({ name: 'orders-db' });
const policy = pipeline(retry({ retries: 2 }), breaker, timeout(1_000));

const registry = new Registry();
instrument(policy, { registry });
const health = new HealthMonitor().register(breaker, { critical: true });

const app = express();
app.get('/health', health.handler());
app.get('/metrics', async (_req, res) => {
  res.type(registry.contentType).send(await registry.metrics());
});
app.get('/orders/:id', async (req, res) => {
  const order = await policy.execute(async () => ({ id: req.params.id }));
  res.json(order);
});

const server = app.listen(0, '127.0.0.1', async () => {
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  await fetch(`${base}/orders/1`);
  const healthResponse = await fetch(`${base}/health`);
  console.log('GET /health', healthResponse.status, await healthResponse.text());
  const metrics = await (await fetch(`${base}/metrics`)).text();
  console.log(
    metrics
      .split('\n')
      .filter((l) => l.startsWith('breakwater_calls_total'))
      .join('\n'),
  );
  server.close();
});
