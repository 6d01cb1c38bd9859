import type { BulkheadPolicy } from '../bulkhead/bulkhead.js';
import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import { show } from '../validate.js';

/**
 * What the dashboard shows, found by walking `policies`. Breakwater's own policies are told
 * apart by `kind` (so two copies of the package still work); the others by the members the
 * dashboard reads (see {@link LimitLike}, {@link PressureLike}, {@link QueueLike}, {@link SwitchLike}).
 */
export interface Found {
  readonly breakers: CircuitBreaker[];
  readonly limits: object[];
  readonly shedders: PressureLike[];
  readonly queues: QueueLike[];
  readonly switches: SwitchLike[];
  readonly chaos: { readonly name: string }[];
}

/**
 * A concurrency limit other than a bulkhead (an adaptive limit, a rate limit), recognised by
 * `kind` (`adaptive-limit`, `rate-limit`) or by numeric `inFlight` and `limit`.
 */
export interface LimitLike {
  /** Its name on the page. */
  readonly name: string;
  /** Calls running now. */
  readonly inFlight?: number;
  /** The limit now. */
  readonly limit: number;
  /** Calls waiting. */
  readonly queued?: number;
}

/** A load shedder, recognised by `kind: 'load-shedder'` or a numeric `pressure`. */
export interface PressureLike {
  /** Its name on the page. */
  readonly name: string;
  /** The highest ratio of a reading to its limit (0 to 1, more when over). */
  readonly pressure: number;
  /** The priorities being refused now. */
  readonly shedding?: readonly string[];
}

/** A deferred work queue, recognised by `stats()` and `enqueue()` (or `kind: 'deferred-queue'`). */
export interface QueueLike {
  /** Its name on the page. */
  readonly name: string;
  /** `depth`, `inFlight`, `deadLetters` and `paused`, or a promise of them; asked at most once per update. */
  stats(): unknown;
}

/** A switch the dashboard can turn on and off: a `Flag` (from `createPolicies` or `new Flag()`). */
export interface SwitchLike {
  /** Always `flag`. */
  readonly kind: 'flag';
  /** Its name on the page and in control URLs. */
  readonly name: string;
  /** Whether it is on. */
  readonly enabled: boolean;
  /** Turns it on or off. */
  set(enabled: boolean): void;
}

const LIMIT_KINDS = new Set(['adaptive-limit', 'rate-limit', 'concurrency-limit']);
const SHEDDER_KINDS = new Set(['load-shedder', 'shedder']);
const QUEUE_KINDS = new Set(['deferred-queue']);
/** Policies that have nothing to show on the page. */
const SILENT_KINDS = new Set(['retry', 'timeout', 'fallback', 'hedge', 'coalesce']);

function has(value: object, key: string, type: string): boolean {
  return typeof (value as Record<string, unknown>)[key] === type;
}

/** Walks pipelines, arrays, Maps and plain records (as `createPolicies` returns), to any depth. */
export function findSources(policies: unknown): Found {
  const found: Found = { breakers: [], limits: [], shedders: [], queues: [], switches: [], chaos: [] };
  const seen = new Set<unknown>();
  const visit = (value: unknown, where: string): void => {
    if (value === undefined || seen.has(value)) return;
    if (typeof value !== 'object' || value === null) {
      throw new TypeError(
        `dashboard: ${where} must be a policy, a pipeline or a collection, got ${show(value)}`,
      );
    }
    seen.add(value);
    const kind = (value as { kind?: unknown }).kind;
    if (kind === 'pipeline') {
      const inner = (value as { policies?: unknown }).policies;
      if (Array.isArray(inner)) for (const [i, p] of inner.entries()) visit(p, `${where}.policies[${i}]`);
      return;
    }
    if (kind === 'circuit-breaker') return void found.breakers.push(value as CircuitBreaker);
    if (kind === 'bulkhead') return void found.limits.push(value as BulkheadPolicy);
    if (kind === 'chaos') return void found.chaos.push(value as { name: string });
    if (kind === 'flag' && has(value, 'set', 'function'))
      return void found.switches.push(value as SwitchLike);
    if (
      LIMIT_KINDS.has(kind as string) ||
      (has(value, 'limit', 'number') && has(value, 'inFlight', 'number'))
    )
      return void found.limits.push(value);
    if (SHEDDER_KINDS.has(kind as string) || has(value, 'pressure', 'number'))
      return void found.shedders.push(value as PressureLike);
    if (
      has(value, 'stats', 'function') &&
      (QUEUE_KINDS.has(kind as string) || has(value, 'enqueue', 'function'))
    )
      return void found.queues.push(value as QueueLike);
    if (typeof kind === 'string' || SILENT_KINDS.has(kind as string) || has(value, 'execute', 'function'))
      return;
    if (Array.isArray(value)) {
      for (const [i, p] of value.entries()) visit(p, `${where}[${i}]`);
      return;
    }
    if (value instanceof Map) {
      for (const [k, p] of value) visit(p, `${where}.${String(k)}`);
      return;
    }
    for (const [k, p] of Object.entries(value)) visit(p, `${where}.${k}`);
  };
  visit(policies, 'policies');
  const names = new Set<string>();
  for (const b of found.breakers) {
    if (names.has(b.name)) {
      throw new TypeError(
        `dashboard: two circuit breakers are named ${JSON.stringify(b.name)}; controls address a breaker by its name`,
      );
    }
    names.add(b.name);
  }
  const flagNames = new Set<string>();
  for (const s of found.switches) {
    if (flagNames.has(s.name))
      throw new TypeError(`dashboard: two flags are named ${JSON.stringify(s.name)}`);
    flagNames.add(s.name);
  }
  return found;
}

/** A number read from outside, or `null` when it is missing or not a finite number. */
export function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A count that may be `Infinity`: shown as `null` (no limit) in JSON. */
function limitOf(value: unknown): number | null {
  return num(value);
}

/** A bulkhead or limit as the page shows it; `null` where it has no such figure. */
export interface LimitView {
  /** Its name. */
  readonly name: string;
  /** Its `kind` (`bulkhead`, `adaptive-limit`, `rate-limit`, ...). */
  readonly kind: string;
  /** Calls running now. */
  readonly inFlight: number | null;
  /** Calls waiting. */
  readonly queued: number | null;
  /** The limit; `null` when unlimited. */
  readonly limit: number | null;
  /** A bulkhead's queue limit; `null` when unlimited or none. */
  readonly maxQueue: number | null;
}

export function describeLimit(value: object): LimitView {
  const p = value as Record<string, unknown>;
  const bulkhead = p.kind === 'bulkhead';
  return {
    name: String(p.name),
    kind: typeof p.kind === 'string' ? p.kind : 'limit',
    inFlight: num(p.inFlight),
    queued: num(p.queued),
    limit: limitOf(bulkhead ? p.maxConcurrent : p.limit),
    maxQueue: bulkhead ? limitOf(p.maxQueue) : num(p.maxQueue),
  };
}

/** A load shedder as the page shows it. */
export interface ShedderView {
  /** Its name. */
  readonly name: string;
  /** Its pressure (0 to 1, more when over). */
  readonly pressure: number | null;
  /** The priorities refused now; `null` when the shedder does not say. */
  readonly shedding: string[] | null;
}

export function describeShedder(p: PressureLike): ShedderView {
  const shedding = p.shedding;
  return {
    name: String(p.name),
    pressure: num(p.pressure),
    shedding: Array.isArray(shedding) ? shedding.map(String) : null,
  };
}

/** A deferred queue as the page shows it: its last `stats()`, `null` before the first answer. */
export interface QueueView {
  /** Its name. */
  readonly name: string;
  /** Jobs waiting. */
  readonly depth: number | null;
  /** Jobs running in this process. */
  readonly inFlight: number | null;
  /** Jobs that failed every attempt. */
  readonly deadLetters: number | null;
  /** Whether its gate or `pause()` holds it. */
  readonly paused: boolean | null;
}

/** A queue as its last `stats()` answered (all `null` before the first answer). */
export function describeQueue(q: QueueLike, stats: unknown): QueueView {
  const s = (typeof stats === 'object' && stats !== null ? stats : {}) as Record<string, unknown>;
  return {
    name: String(q.name),
    depth: num(s.depth),
    inFlight: num(s.inFlight),
    deadLetters: num(s.deadLetters),
    paused: typeof s.paused === 'boolean' ? s.paused : null,
  };
}
