import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultProxy } from 'breakwater/chaos';
import pg from 'pg';
import type { ServiceConfig, ServiceStats } from '../service/config.js';
import { Cleanup } from './cleanup.js';
import {
  type Counts,
  countOutcomes,
  type LoadOptions,
  LoadRun,
  percentile,
  type RequestRecord,
} from './load.js';
import { type PostgresOptions, ThrowawayPostgres, ThrowawayRedis } from './servers.js';
import { ServiceProcess } from './service-process.js';
import type { Check, Mark, Sample, Scenario, ScenarioResult } from './types.js';

/** A few reads one after another, so that the load meets a warm service (JIT, pool, cache), not a cold one. */
async function warmUp(url: string): Promise<void> {
  for (let i = 1; i <= 12; i++) {
    await fetch(`${url}/items/${i}`, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.arrayBuffer())
      .catch(() => {});
  }
}

const RANK: Record<string, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 2 };

/** The worse of the read and write breakers' states, for the timeline. */
function worst(a: string, b: string | undefined): string {
  return b !== undefined && (RANK[b] ?? 0) > (RANK[a] ?? 0) ? b : a;
}

/** Raised to end a scenario early: a skip (the machine cannot run it) with its reason. */
export class SkipScenario extends Error {
  override name = 'SkipScenario';
}

export type Progress = (line: string, live?: boolean) => void;

/**
 * What a scenario works with: throwaway servers and the service (all removed when it ends),
 * load runs, a timeline sampled every 250 ms, and its checks.
 */
export class ScenarioContext {
  readonly cleanup = new Cleanup();
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  readonly marks: Mark[] = [];
  readonly samples: Sample[] = [];
  readonly measured: Record<string, number | string> = {};
  readonly loads: LoadRun[] = [];
  readonly workDir: string;
  detectMs: number | null = null;
  recoverMs: number | null = null;
  tasksLost: number | null = null;
  tasksAccepted = 0;
  readonly origin = performance.now();
  /** The service being sampled (the latest started). */
  service: ServiceProcess | undefined;
  lastStats: ServiceStats | undefined;
  private sampler: NodeJS.Timeout | undefined;
  private sampledUpTo = 0;
  /** ms (since the start) at which the servers and the service were up: the scenario's own clock starts there. */
  setupDoneAt: number | undefined;
  private phaseName = 'setup';

  constructor(
    readonly scenario: Scenario,
    readonly signal: AbortSignal,
    private readonly progress: Progress,
  ) {
    this.workDir = join(
      tmpdir(),
      `breakwater-chaos-${scenario.slug}-${process.pid}-${Date.now().toString(36)}`,
    );
    mkdirSync(this.workDir, { recursive: true });
    this.cleanup.add('work dir', () => rmSync(this.workDir, { recursive: true, force: true }));
  }

  /** ms since the scenario started. */
  now(): number {
    return performance.now() - this.origin;
  }

  log(message: string): void {
    this.progress(`  [${(this.now() / 1000).toFixed(1).padStart(5)}s] ${message}`);
  }

  /** Names what happens now, on the progress line and on the timeline. */
  phase(name: string): void {
    this.phaseName = name;
    this.marks.push({ t: this.now(), label: name });
    this.log(`phase: ${name}`);
  }

  note(text: string): void {
    this.notes.push(text);
    this.log(text);
  }

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, status: ok ? 'passed' : 'failed', detail });
    this.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    return ok;
  }

  /** An expectation that could not be checked on this run, and why: never a silent pass. */
  unchecked(name: string, reason: string): void {
    this.checks.push({ name, status: 'unchecked', detail: reason });
    this.log(`n/a  ${name}: ${reason}`);
  }

  skip(reason: string): never {
    throw new SkipScenario(reason);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason);
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(this.signal.reason);
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Polls `test` every `every` ms until it holds (returns ms waited) or `timeoutMs` passes (returns null). */
  async waitFor(
    test: () => boolean | Promise<boolean>,
    timeoutMs: number,
    every = 100,
  ): Promise<number | null> {
    const start = this.now();
    for (;;) {
      if (await test()) return this.now() - start;
      if (this.now() - start > timeoutMs) return null;
      await this.sleep(every);
    }
  }

  async postgres(options?: PostgresOptions): Promise<ThrowawayPostgres> {
    const server = await ThrowawayPostgres.create(options);
    this.cleanup.add(`postgres :${server.port}`, () => server.destroy());
    return server;
  }

  async redis(): Promise<ThrowawayRedis> {
    const server = await ThrowawayRedis.create();
    this.cleanup.add(`redis :${server.port}`, () => server.destroy());
    return server;
  }

  /** A FaultProxy in this process in front of `target`: latency, blackhole, reset on demand. */
  async proxy(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = await FaultProxy.start({ target: { host: target.host, port: target.port } });
    this.cleanup.add(`fault proxy :${proxy.port}`, () => proxy.close());
    return proxy;
  }

  /** Starts the service under test against the given servers, and samples it for the timeline. */
  async startService(
    db: { host: string; port: number },
    redis: { port: number },
    config: Partial<ServiceConfig> = {},
    nodeArgs: string[] = [],
    warm = true,
  ): Promise<ServiceProcess> {
    const service = await ServiceProcess.start(
      {
        pg: { host: db.host, port: db.port },
        redis: { host: '127.0.0.1', port: redis.port },
        workDir: this.workDir,
        ...config,
      },
      nodeArgs,
    );
    this.cleanup.add(`service pid ${service.pid}`, () => service.stop());
    this.service = service;
    if (warm) await warmUp(service.url);
    this.setupDoneAt ??= this.now();
    this.startSampling();
    return service;
  }

  /** Starts a bounded load against the current service. */
  load(options: Omit<LoadOptions, 'url'> & { url?: string }): LoadRun {
    if (!this.service && !options.url) throw new Error('load: no service started');
    const run = new LoadRun({ url: this.service?.url ?? '', ...options } as LoadOptions, this.origin);
    this.loads.push(run);
    this.cleanup.add('load', () => run.stop());
    return run;
  }

  records(): RequestRecord[] {
    return this.loads.flatMap((l) => l.records);
  }

  counts(): Counts {
    return countOutcomes(this.records());
  }

  acceptedTasks(): string[] {
    return this.loads.flatMap((l) => l.acceptedTasks);
  }

  private startSampling(): void {
    if (this.sampler) return;
    let busy = false;
    this.sampler = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.sample().finally(() => {
        busy = false;
      });
    }, 250);
    this.cleanup.add('sampler', () => clearInterval(this.sampler));
  }

  private lastLive = 0;

  private async sample(): Promise<void> {
    const stats = this.service?.alive ? await this.service.stats(1_000) : undefined;
    if (stats) this.lastStats = stats;
    const t = this.now();
    const recent = this.records().filter((r) => r.end > this.sampledUpTo && r.end <= t);
    this.sampledUpTo = t;
    const bad = recent.filter(
      (r) => r.outcome === 'failed' || r.outcome === 'rejected' || r.outcome === 'shed',
    );
    this.samples.push({
      t,
      breaker: stats ? worst(stats.breakers.db, stats.breakers.dbWrite) : 'down',
      errorRate: recent.length ? bad.length / recent.length : 0,
      p99: percentile(
        recent.map((r) => r.end - r.start),
        99,
      ),
      queueDepth: stats?.queueDepth ?? this.samples.at(-1)?.queueDepth ?? 0,
      answers: recent.length,
    });
    if (t - this.lastLive >= 1_000) {
      this.lastLive = t;
      const c = this.counts();
      this.progress(
        `  [${(t / 1000).toFixed(1).padStart(5)}s] ${this.phaseName} | breaker ${stats?.breakers.db ?? 'down'} | queue ${stats?.queueDepth ?? '?'} | served ${c.served} queued ${c.queued} shed ${c.shed} rejected ${c.rejected} failed ${c.failed}`,
        true,
      );
    }
  }

  /** First breaker event of `breaker` to state `to` at or after wall time `since` (Date.now()). */
  breakerEvent(to: string, since: number, breaker = 'db'): { at: number; openFor?: number } | undefined {
    return this.lastStats?.breakerEvents.find((e) => e.breaker === breaker && e.to === to && e.at >= since);
  }

  /**
   * Waits until every task the service accepted is done in the database (or `timeoutMs`
   * passes), then counts the ones that are not: lost (not in the database at all) and
   * unprocessed (there, not done).
   */
  async verifyTasks(
    db: ThrowawayPostgres,
    timeoutMs: number,
  ): Promise<{ lost: number; pending: number; accepted: number }> {
    const accepted = this.acceptedTasks();
    this.tasksAccepted = accepted.length;
    const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 3_000 });
    await client.connect();
    try {
      let lost = accepted.length;
      let pending = 0;
      const start = this.now();
      for (;;) {
        const { rows } = await client.query<{ id: string; status: string }>(
          'select id, status from tasks where id = any($1::text[])',
          [accepted],
        );
        const status = new Map(rows.map((r) => [r.id, r.status]));
        lost = accepted.filter((id) => !status.has(id)).length;
        pending = accepted.filter((id) => status.get(id) === 'pending').length;
        if ((lost === 0 && pending === 0) || this.now() - start > timeoutMs) break;
        await this.sleep(250);
      }
      this.tasksLost = lost + pending;
      return { lost, pending, accepted: accepted.length };
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The scenario's result, once it ran (or was skipped). */
  result(verdictOverride?: { verdict: 'skipped' | 'failed'; reason: string }): ScenarioResult {
    const failed = this.checks.some((c) => c.status === 'failed');
    const unchecked = this.checks.filter((c) => c.status === 'unchecked');
    let verdict: ScenarioResult['verdict'] = failed ? 'failed' : unchecked.length ? 'partial' : 'passed';
    let reason: string | undefined;
    if (!failed && this.checks.length === 0) {
      verdict = 'failed';
      reason = 'the scenario checked nothing';
    }
    if (verdict === 'partial') reason = unchecked.map((c) => `${c.name}: ${c.detail}`).join('; ');
    if (verdictOverride) {
      verdict = verdictOverride.verdict;
      reason = verdictOverride.reason;
    }
    return {
      id: this.scenario.id,
      slug: this.scenario.slug,
      title: this.scenario.title,
      expected: this.scenario.expected,
      verdict,
      ...(reason === undefined ? {} : { reason }),
      checks: this.checks,
      counts: this.counts(),
      tasksAccepted: this.tasksAccepted || this.acceptedTasks().length,
      tasksLost: this.tasksLost,
      detectMs: this.detectMs === null ? null : Math.round(this.detectMs),
      recoverMs: this.recoverMs === null ? null : Math.round(this.recoverMs),
      durationMs: Math.round(this.now()),
      ...(this.setupDoneAt === undefined ? {} : { setupMs: Math.round(this.setupDoneAt) }),
      notes: this.notes,
      samples: this.samples,
      marks: this.marks,
      measured: this.measured,
    };
  }
}
