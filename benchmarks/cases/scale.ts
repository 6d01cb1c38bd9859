import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bw, cockatiel, idle, Opossum, readsSignal, work } from '../lib/libraries.js';
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
    call: (b) => (b as import('breakwater').CircuitBreaker).execute(readsSignal),
  },
  opossum: {
    make: () => new Opossum((signal: AbortSignal) => work(signal)),
    call: (b) => (b as Opossum).fire(idle),
  },
  cockatiel: {
    make: () =>
      cockatiel.circuitBreaker(cockatiel.handleAll, {
        halfOpenAfter: 30_000,
        breaker: new cockatiel.ConsecutiveBreaker(5),
      }),
    call: (b) => (b as import('cockatiel').CircuitBreakerPolicy).execute(readsSignal),
  },
};

const N = 10_000;

function factoryOf(library: string): Factory {
  const factory = factories[library];
  if (factory === undefined) throw new Error(`unknown library ${library}`);
  return factory;
}

/** A ref'd timer keeps a process alive; opossum's interval timers are unref'd and do not show here. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** Runs in a process started with --expose-gc, one library per process. */
export async function measureScale(
  library: string,
  level: 'check' | 'quick' | 'full',
): Promise<ScaleMetrics> {
  const { make, call } = factoryOf(library);
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with --expose-gc');

  for (let i = 0; i < 1_000; i++) await call(make()); // warm up the constructor's and the call's code
  const kept = new Array(N); // allocated before the heap is read: the array is not the breakers'
  gc();
  const timersBefore = timers();
  const heapBefore = process.memoryUsage().heapUsed;
  let t = performance.now();
  for (let i = 0; i < N; i++) kept[i] = make();
  const create10k = performance.now() - t;
  gc();
  const heapFresh = (process.memoryUsage().heapUsed - heapBefore) / N;
  // A breaker in use has served calls: what it keeps after one (breakwater: its epoch's settlement handlers).
  for (let i = 0; i < N; i++) await call(kept[i]);
  gc();
  const heapUsed = (process.memoryUsage().heapUsed - heapBefore) / N;
  const timersPerBreaker = (timers() - timersBefore) / N;

  const idleWindow = level === 'full' ? 3_000 : level === 'quick' ? 500 : 200;
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, idleWindow));
  const cpu = process.cpuUsage(cpuBefore);
  const idleCpuPerSecond = (cpu.user + cpu.system) / 1_000 / (idleWindow / 1_000);
  kept.length = 0;
  gc();

  // Not in --check: opossum takes seconds for 100,000.
  const big = level === 'full' ? 1_000_000 : level === 'quick' ? 100_000 : 0;
  const many = new Array(big);
  t = performance.now();
  for (let i = 0; i < big; i++) many[i] = make();
  const createBig = performance.now() - t;
  many.length = 0;

  const probe = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../lib/exit-probe.ts', import.meta.url)), library],
    { timeout: 15_000, encoding: 'utf8' },
  );
  return {
    'heap bytes per idle breaker, after one call': Math.round(heapUsed),
    'heap bytes per idle breaker, never called': Math.round(heapFresh),
    'create 10k, warm (ms)': round(create10k),
    ...(big === 0 ? {} : { [`create ${big === 1_000_000 ? '1M' : '100k'}, warm (ms)`]: round(createBig) }),
    "ref'd timers per breaker": timersPerBreaker,
    'idle CPU of 10k breakers (ms per s)': round(idleCpuPerSecond),
    'process exits by itself': probe.status === 0 && probe.signal === null,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
