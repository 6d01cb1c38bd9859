import { expect, it } from 'vitest';
import { describeRun, runTs } from '../helpers/run.js';

it('the Express and Fastify dashboard examples serve the page, the stream and the controls, then exit on their own', async () => {
  // Run side by side: each is mostly tsx's start-up.
  const runs = await Promise.all(
    ['dashboard-express', 'dashboard-fastify'].map((example) =>
      runTs([`examples/${example}.ts`], { limitMs: 30_000 }),
    ),
  );
  for (const run of runs) {
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/m);
    expect(run.stdout).toMatch(/^GET \/dashboard\/ 200 text\/html; charset=utf-8 \d+ bytes$/m);
    expect(run.stdout).toContain('GET /dashboard/events text/event-stream; charset=utf-8 breaker closed');
    expect(run.stdout).toContain('POST isolate without the token 403');
    expect(run.stdout).toMatch(/^POST isolate with the token 200 \{"name":"[a-z-]+","state":"isolated"\}$/m);
    expect(run.stdout).toContain('GET /dashboard/state breaker isolated');
  }
}, 45_000);
