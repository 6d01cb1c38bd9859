import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bw, cockatiel, Opossum, ok } from '../lib/libraries.js';
import type { ScaleCase, ScaleMetrics } from '../lib/types.js';

export const scale: ScaleCase = {
  kind: 'scale',
  id: 'scale',
  title: 'Scale: many idle breakers',
  libraries: ['breakwater', 'opossum', 'cockatiel'],
};

/** How each library makes a breaker as its users would, and calls through one. */
export interface Factory {
  make(): unknown;
  call(breaker: unknown): Promise<unknown>;
}

export const factories: Record<string, Factory> = {
  breakwater: {
    make: () => new bw.CircuitBreaker(),
    call: (b) => (b as import('breakwater').CircuitBreaker).execute(ok),
  },
  opossum: {
    make: () => new Opossum(ok),
    call: (b) => (b as Opossum).fire(),
  },
  cockatiel: {
    make: () =>
      cockatiel.circuitBreaker(cockatiel.handleAll, {
        halfOpenAfter: 30_000,
        breaker: new cockatiel.ConsecutiveBreaker(5),
      }),
    call: (b) => (b as import('cockatiel').CircuitBreakerPolicy).execute(ok),
  },
};

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Runs in a process started with --expose-gc, one library per process. */
export async function measureScale(library: string, quick: boolean): Promise<ScaleMetrics> {
  const factory = factories[library];
  if (factory === undefined) throw new Error(`unknown library ${library}`);
  const make = factory.make;
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const N = 10_000;

  for (let i = 0; i < 1_000; i++) make(); // warm up the constructor's code
  gc();
  const timersBefore = timers();
  const heapBefore = process.memoryUsage().heapUsed;
  let t = performance.now();
  const kept = new Array(N);
  for (let i = 0; i < N; i++) kept[i] = make();
  const create10k = performance.now() - t;
  gc();
  const heapPerBreaker = (process.memoryUsage().heapUsed - heapBefore) / N;
  const timersPerBreaker = (timers() - timersBefore) / N;

  const idleWindow = quick ? 500 : 3_000;
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, idleWindow));
  const cpu = process.cpuUsage(cpuBefore);
  const idleCpuPerSecond = (cpu.user + cpu.system) / 1_000 / (idleWindow / 1_000);
  kept.length = 0;
  gc();

  const big = quick ? 100_000 : 1_000_000;
  const many = new Array(big);
  t = performance.now();
  for (let i = 0; i < big; i++) many[i] = make();
  const createBig = performance.now() - t;
  many.length = 0;

  const probe = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../lib/exit-probe.ts', import.meta.url)), library],
    {
      timeout: 15_000,
      encoding: 'utf8',
    },
  );
  return {
    'heap bytes per idle breaker': Math.round(heapPerBreaker),
    'create 10k (ms)': round(create10k),
    [`create ${big === 1_000_000 ? '1M' : '100k'} (ms)`]: round(createBig),
    'live timers per breaker': timersPerBreaker,
    'idle CPU of 10k breakers (ms per s)': round(idleCpuPerSecond),
    'process exits by itself': probe.status === 0 && probe.signal === null,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
