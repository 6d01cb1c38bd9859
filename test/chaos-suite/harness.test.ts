import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedUnderCi, CI_ALLOWED_SKIPS } from '../../chaos/allow-list.js';
import { parseArgs } from '../../chaos/lib/args.js';
import { Cleanup } from '../../chaos/lib/cleanup.js';
import {
  classify,
  countOutcomes,
  LOAD_LIMITS,
  LoadRun,
  percentile,
  pick,
  validateLoad,
} from '../../chaos/lib/load.js';
import { markdownReport, row, textTable } from '../../chaos/lib/report.js';
import { timelineSvg } from '../../chaos/lib/svg.js';
import type { ScenarioResult } from '../../chaos/lib/types.js';

const IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

describe('command line', () => {
  it('runs everything with no arguments, and writes to chaos-report/', () => {
    expect(parseArgs([], IDS)).toEqual({ list: false, help: false, ids: [], out: 'chaos-report' });
  });

  it('takes scenario numbers and ranges, in order, each once', () => {
    expect(parseArgs(['3'], IDS).ids).toEqual([3]);
    expect(parseArgs(['9', '1', '9'], IDS).ids).toEqual([9, 1]);
    expect(parseArgs(['2-4', '1'], IDS).ids).toEqual([2, 3, 4, 1]);
  });

  it('takes --list, --help and --out', () => {
    expect(parseArgs(['--list'], IDS).list).toBe(true);
    expect(parseArgs(['-h'], IDS).help).toBe(true);
    expect(parseArgs(['--out', 'x'], IDS).out).toBe('x');
    expect(parseArgs(['--out=y', '5'], IDS)).toMatchObject({ out: 'y', ids: [5] });
  });

  it('refuses unknown scenarios and arguments with a RangeError that says why', () => {
    expect(() => parseArgs(['11'], IDS)).toThrow(/no scenario 11: scenarios are numbered 1 to 10/);
    expect(() => parseArgs(['0'], IDS)).toThrow(RangeError);
    expect(() => parseArgs(['4-2'], IDS)).toThrow(/bad range/);
    expect(() => parseArgs(['--fast'], IDS)).toThrow(/unknown argument "--fast"/);
    expect(() => parseArgs(['--out'], IDS)).toThrow(/--out needs a directory/);
  });
});

describe('load generator bounds', () => {
  const ok = { url: 'http://127.0.0.1:1', concurrency: 1, durationMs: 1_000, maxRequests: 10 };

  it('accepts loopback targets only', () => {
    expect(() => validateLoad(ok)).not.toThrow();
    expect(() => validateLoad({ ...ok, url: 'http://localhost:8080' })).not.toThrow();
    expect(() => validateLoad({ ...ok, url: 'http://[::1]:8080' })).not.toThrow();
    expect(() => validateLoad({ ...ok, url: 'http://10.0.0.1:80' })).toThrow(/url must be on loopback/);
    expect(() => validateLoad({ ...ok, url: 'http://example.com' })).toThrow(/url must be on loopback/);
    expect(() => validateLoad({ ...ok, url: 'nope' })).toThrow(/absolute URL/);
  });

  it('caps concurrency, duration, request count and client retries', () => {
    expect(() => validateLoad({ ...ok, concurrency: LOAD_LIMITS.concurrency + 1 })).toThrow(
      /concurrency must be an integer in \[1, 64\], got 65/,
    );
    expect(() => validateLoad({ ...ok, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => validateLoad({ ...ok, durationMs: 60_001 })).toThrow(/durationMs/);
    expect(() => validateLoad({ ...ok, maxRequests: 100_001 })).toThrow(/maxRequests/);
    expect(() => validateLoad({ ...ok, maxRequests: Number.POSITIVE_INFINITY })).toThrow(/maxRequests/);
    expect(() => validateLoad({ ...ok, clientRetries: 6 })).toThrow(/clientRetries/);
    expect(() => validateLoad({ ...ok, writeShare: 2 })).toThrow(/writeShare/);
    expect(() => validateLoad({ ...ok, itemRange: 501 })).toThrow(
      /itemRange must be an integer in \[1, 500\]/,
    );
  });

  it('classifies answers: served, queued, shed, friendly 503, failed', () => {
    expect(classify(200)).toBe('served');
    expect(classify(201)).toBe('served');
    expect(classify(202)).toBe('queued');
    expect(classify(503, new Headers({ 'x-shed': '1', 'retry-after': '1' }))).toBe('shed');
    expect(classify(429)).toBe('shed');
    expect(classify(503, new Headers({ 'retry-after': '2' }))).toBe('rejected');
    expect(classify(503)).toBe('failed');
    expect(classify(500)).toBe('failed');
    expect(classify(undefined)).toBe('failed');
  });

  it('picks by weight and computes percentiles', () => {
    expect(pick({ a: 1, b: 3 }, 0)).toBe('a');
    expect(pick({ a: 1, b: 3 }, 0.3)).toBe('b');
    expect(pick({ a: 0, b: 1 }, 0)).toBe('b');
    expect(percentile([], 99)).toBe(0);
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([5, 1, 3, 2, 4], 99)).toBe(5);
  });

  describe('against a local server', () => {
    let server: http.Server;
    let url: string;
    let seen = 0;
    beforeAll(async () => {
      server = http.createServer((request, response) => {
        seen++;
        if (request.method === 'POST') response.writeHead(202).end();
        else response.writeHead(200, { 'x-source': 'db' }).end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('stops after maxRequests, and records every answer', async () => {
      seen = 0;
      const run = new LoadRun(
        { url, concurrency: 4, durationMs: 10_000, maxRequests: 25, thinkMs: 0, writeShare: 0.5 },
        performance.now(),
      );
      await run.done;
      expect(run.records).toHaveLength(25);
      expect(seen).toBe(25);
      const counts = countOutcomes(run.records);
      expect(counts.served + counts.queued).toBe(25);
      expect(run.acceptedTasks).toHaveLength(counts.queued);
    });

    it('stops after durationMs', async () => {
      const started = performance.now();
      const run = new LoadRun(
        { url, concurrency: 2, durationMs: 300, maxRequests: 100_000, thinkMs: 20 },
        started,
      );
      await run.done;
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(run.records.length).toBeGreaterThan(0);
      expect(run.records.length).toBeLessThan(100);
    });
  });
});

function result(overrides: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    id: 3,
    slug: 'partition',
    title: 'Network <partition> | test',
    expected: ['the breaker opens'],
    verdict: 'passed',
    checks: [
      { name: 'opened', status: 'passed', detail: 'after 1 s' },
      { name: 'shed', status: 'unchecked', detail: 'no shedder' },
    ],
    counts: { total: 10, served: 6, queued: 2, shed: 0, rejected: 1, failed: 1 },
    tasksAccepted: 2,
    tasksLost: 0,
    detectMs: 1_234,
    recoverMs: null,
    durationMs: 10_000,
    notes: ['partition method: netns'],
    samples: [
      { t: 1_000, breaker: 'closed', errorRate: 0, p99: 10, queueDepth: 0, answers: 5 },
      { t: 2_000, breaker: 'open', errorRate: 0.5, p99: 800, queueDepth: 3, answers: 4 },
      { t: 3_000, breaker: 'down', errorRate: 1, p99: 0, queueDepth: 3, answers: 0 },
    ],
    marks: [{ t: 1_500, label: 'fault & <heal>' }],
    measured: { retryRatio: 0.1 },
    ...overrides,
  };
}

describe('report', () => {
  it('puts the numbers of a scenario in one row', () => {
    expect(row(result())).toEqual([
      '3. Network <partition> | test',
      'PASSED',
      '1/0 (+1 n/a)',
      '6',
      '0',
      '2',
      '1 (+1 503)',
      '0',
      '1.23 s',
      '-',
    ]);
  });

  it('aligns the terminal table', () => {
    const lines = textTable([result(), result({ id: 10, verdict: 'failed', tasksLost: null })]).split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[3]).toContain('FAILED');
  });

  it('writes Markdown with the table, expectations, checks and the timeline link, pipes escaped', () => {
    const md = markdownReport([result({ verdict: 'partial', reason: 'shed: no shedder' })], {
      startedAt: '2026-01-01T00:00:00Z',
      durationMs: 12_000,
      ci: true,
    });
    expect(md).toContain('| 3. Network <partition> \\| test | PARTIAL |');
    expect(md).toContain('## 3. Network <partition> | test: partial');
    expect(md).toContain('Note: shed: no shedder');
    expect(md).toContain('| shed | unchecked | no shedder |');
    expect(md).toContain('- the breaker opens');
    expect(md).toContain('![timeline of scenario 3](3-partition.svg)');
    expect(md).toContain('(CI=true)');
  });

  it('draws a timeline SVG with the four panels, the marks, and text escaped', () => {
    const svg = timelineSvg(result());
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const title of ['database breakers', 'error rate', 'latency p99', 'queue depth'])
      expect(svg).toContain(title);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg).toContain('fault &amp; &lt;heal&gt;');
    expect(svg).toContain('Network &lt;partition&gt; | test');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws an empty timeline without NaN', () => {
    expect(timelineSvg(result({ samples: [], marks: [], durationMs: 0 }))).not.toMatch(/NaN|Infinity/);
  });
});

describe('cleanup and the CI allow-list', () => {
  it('runs undo actions newest first, each once, past one that throws', async () => {
    const cleanup = new Cleanup();
    const order: string[] = [];
    cleanup.add('a', () => order.push('a'));
    const early = cleanup.add('b', () => order.push('b'));
    cleanup.add('c', () => {
      throw new Error('boom');
    });
    cleanup.add('d', async () => {
      order.push('d');
    });
    await early();
    expect(order).toEqual(['b']);
    expect(await cleanup.runAll()).toEqual(['c: boom']);
    expect(order).toEqual(['b', 'd', 'a']);
    expect(cleanup.size).toBe(0);
    expect(await cleanup.runAll()).toEqual([]);
  });

  it('allows only documented skip reasons under CI', () => {
    expect(CI_ALLOWED_SKIPS.length).toBeGreaterThan(0);
    expect(allowedUnderCi('not root: network namespaces need root')).toBe(true);
    expect(allowedUnderCi("low-priority work was shed: breakwater's loadShedder is not available")).toBe(
      false,
    );
    expect(allowedUnderCi(undefined)).toBe(false);
  });
});
