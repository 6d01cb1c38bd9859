import { type BulkheadPolicy, bulkhead } from '../bulkhead/bulkhead.js';
import { type ChaosPolicy, injectFault, injectLatency } from '../chaos/inject.js';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { Clock, RandomSource } from '../clock.js';
import { type Pipeline, pipeline } from '../pipeline/pipeline.js';
import type { Policy } from '../policy.js';
import { constant, exponential } from '../retry/backoff.js';
import { type RetryPolicy, retry } from '../retry/retry.js';
import { type TimeoutPolicy, timeout } from '../timeout/timeout.js';
import * as v from '../validate.js';
import { Flag } from './flag.js';
import {
  type BreakwaterConfig,
  GROUP_NAMES,
  GROUPS,
  type Leaf,
  NAME,
  REFERENCES,
  type Shape,
} from './schema.js';

/** What {@link createPolicies} builds, by group and name. */
export interface Policies {
  /** Circuit breakers by name (each named so). */
  readonly breakers: Record<string, CircuitBreaker>;
  /** Retries by name. */
  readonly retries: Record<string, RetryPolicy>;
  /** Timeouts by name. */
  readonly timeouts: Record<string, TimeoutPolicy>;
  /** Bulkheads by name. */
  readonly bulkheads: Record<string, BulkheadPolicy>;
  /** Chaos injections by name. */
  readonly chaos: Record<string, ChaosPolicy>;
  /** Flags by name. */
  readonly flags: Record<string, Flag>;
  /** Pipelines by name, sharing the policies above. */
  readonly pipelines: Record<string, Pipeline>;
}

/** Options of {@link createPolicies}. */
export interface CreatePoliciesOptions {
  /** Given to every policy built. @default each policy's own default (systemClock, or a pipeline's) */
  clock?: Clock;
  /** Given to every chaos injection and retry. @default Math.random, or a pipeline's */
  random?: RandomSource;
}

/** Where each value of a config came from (an environment variable), by dotted path; kept by `fromEnv`. */
const origins = new WeakMap<object, Origins>();

/** @internal Records the variable behind each path of `config`. */
export function setOrigins(config: object, from: Origins): void {
  origins.set(config, from);
}

/** Where a config's values came from: the variable behind each option, and each entry's variable prefix. */
export interface Origins {
  readonly options: ReadonlyMap<string, string>;
  readonly entries: ReadonlyMap<string, string>;
}

/** Names what a path of the config stands for in messages: its variable when it came from one. */
class Namer {
  constructor(private readonly from: Origins | undefined) {}

  /** The variables at or under `path`, or the path itself. */
  under(path: string): string {
    const vars = [...(this.from?.options ?? [])]
      .filter(([p]) => p === path || p.startsWith(`${path}.`))
      .map(([, n]) => n);
    if (vars.length === 0) return path;
    return vars.length === 1 ? vars[0]! : `one of ${vars.join(', ')}`;
  }

  /** An option that was not given: the variable that would give it. */
  missing(entry: string, option: string): string {
    const prefix = this.from?.entries.get(entry);
    if (prefix === undefined) return `${entry}.${option} (not given)`;
    const variable = option
      .split('.')
      .map((k) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase())
      .join('__');
    return `${prefix}__${variable} (not set)`;
  }
}

function describeLeaf(leaf: Leaf): string {
  if (typeof leaf !== 'string') return `one of ${leaf.map((w) => JSON.stringify(w)).join(', ')}`;
  switch (leaf) {
    case 'integer':
      return 'an integer';
    case 'count':
      return 'an integer or Infinity';
    case 'ms':
      return 'a number of ms';
    case 'msOrInfinity':
      return 'a number of ms or Infinity';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'list':
      return 'an array of strings';
    case 'name':
      return 'a kebab-case name';
  }
}

/** Whether a JSON value has the type a leaf asks for (ranges are the constructors' to check). */
function fits(leaf: Leaf, value: unknown): boolean {
  if (typeof leaf !== 'string') return typeof value === 'string' && leaf.includes(value);
  switch (leaf) {
    case 'integer':
    case 'count':
    case 'ms':
    case 'msOrInfinity':
    case 'number':
      return typeof value === 'number' && !Number.isNaN(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'list':
      return Array.isArray(value) && value.every((s) => typeof s === 'string');
    case 'name':
      return typeof value === 'string' && NAME.test(value);
  }
}

/** Checks `value` against `shape` (unknown keys and wrong types are errors) and copies it. */
function checkShape(shape: Shape, value: unknown, path: string, names: Namer): Record<string, unknown> {
  const o = v.object(names.under(path), value);
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(o)) {
    const at = `${path}.${key}`;
    const inner = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (inner === undefined) {
      throw new TypeError(
        `${names.under(at)}: unknown option ${JSON.stringify(key)}; known options are ${Object.keys(shape).join(', ')}`,
      );
    }
    if (item === undefined) continue;
    if (typeof inner === 'object' && !Array.isArray(inner)) {
      copy[key] = checkShape(inner as Shape, item, at, names);
    } else if (!fits(inner as Leaf, item)) {
      throw new TypeError(`${names.under(at)} must be ${describeLeaf(inner as Leaf)}, got ${v.show(item)}`);
    } else copy[key] = Array.isArray(item) ? [...item] : item;
  }
  return copy;
}

/** The config with every group, name and option checked, as fresh plain objects. */
export function checkConfig(config: unknown, names: Namer): BreakwaterConfig {
  const root = v.object('config', config);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [group, entries] of Object.entries(root)) {
    if (!(GROUP_NAMES as readonly string[]).includes(group)) {
      throw new TypeError(
        `config: unknown group ${JSON.stringify(group)}; known groups are ${GROUP_NAMES.join(', ')}`,
      );
    }
    if (entries === undefined) continue;
    const byName: Record<string, unknown> = {};
    for (const [name, entry] of Object.entries(v.object(`config.${group}`, entries))) {
      const path = `${group}.${name}`;
      if (!NAME.test(name)) {
        throw new TypeError(
          `${names.under(path)}: policy names are kebab-case (lower-case letters, digits, single hyphens), got ${JSON.stringify(name)}`,
        );
      }
      if (group === 'flags') {
        if (typeof entry !== 'boolean')
          throw new TypeError(`${names.under(path)} must be a boolean, got ${v.show(entry)}`);
        byName[name] = entry;
      } else byName[name] = checkShape(GROUPS[group as keyof typeof GROUPS], entry, path, names);
    }
    out[group] = byName;
  }
  return out as BreakwaterConfig;
}

/** The option paths present in `entry`, deepest first. */
function leafPaths(entry: Record<string, unknown>, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    const p = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      paths.push(...leafPaths(value as Record<string, unknown>, p));
    }
    paths.push(p);
  }
  return paths.sort((a, b) => b.length - a.length);
}

/**
 * Runs a constructor; its error is thrown again, of the same class with the same message,
 * prefixed by the variable (or config path) of the option it names, with the original as `cause`.
 */
function building<T>(path: string, entry: Record<string, unknown>, names: Namer, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    const message = error.message;
    const named = (p: string) => {
      const last = p.slice(p.lastIndexOf('.') + 1);
      return [p, last].some((n) => message.startsWith(n) && /^[ :.(]/.test(message.slice(n.length)));
    };
    const option = leafPaths(entry).find(named);
    let where: string;
    if (option !== undefined) where = names.under(`${path}.${option}`);
    else {
      // An option the message names but the entry lacks: a required one, not given.
      const lead = /^([a-zA-Z]+(?:\.[a-zA-Z]+)*)[ :(]/.exec(message)?.[1];
      const shape = GROUPS[path.slice(0, path.indexOf('.')) as keyof typeof GROUPS];
      const known = lead !== undefined && shape !== undefined && Object.hasOwn(shape, lead.split('.')[0]!);
      where = known ? names.missing(path, lead!) : names.under(path);
    }
    const Type = error instanceof RangeError ? RangeError : TypeError;
    throw new Type(`${where}: ${message}`, { cause: error });
  }
}

type Entry = Record<string, unknown>;

function without(entry: Entry, ...keys: string[]): Entry {
  const copy = { ...entry };
  for (const k of keys) delete copy[k];
  return copy;
}

/**
 * Builds named policies from a plain config (from {@link fromEnv}, a JSON file or code):
 * breakers, retries, timeouts, bulkheads, chaos injections, flags, and pipelines made of
 * those by name. Every value is checked with the constructors' own validation; an error names
 * the environment variable it came from (or its path in the config) and keeps the
 * constructor's error as `cause`. Unknown groups and options are errors.
 *
 * @example
 * ```ts
 * const policies = createPolicies({
 *   breakers: { 'orders-db': { failureThreshold: 5, openTimeout: 30_000 } },
 *   retries: { orders: { retries: 2, backoff: { type: 'exponential', initial: 100 } } },
 *   timeouts: { orders: { ms: 2_000 } },
 *   pipelines: { orders: { policies: ['retry:orders', 'breaker:orders-db', 'timeout:orders'] } },
 * });
 * await policies.pipelines.orders!.execute(({ signal }) => db.query(sql, { signal }));
 * ```
 */
export function createPolicies(config: BreakwaterConfig, options: CreatePoliciesOptions = {}): Policies {
  const o = v.object('createPolicies options', options);
  v.knownKeys('createPolicies', o, ['clock', 'random']);
  const clock = o.clock === undefined ? undefined : v.clock('clock', o.clock);
  const random = o.random === undefined ? undefined : v.random('random', o.random);
  const names = new Namer(typeof config === 'object' && config !== null ? origins.get(config) : undefined);
  const c = checkConfig(config, names);
  const withClock = clock === undefined ? {} : { clock };
  const withRandom = random === undefined ? {} : { random };
  const out: Policies = {
    breakers: {},
    retries: {},
    timeouts: {},
    bulkheads: {},
    chaos: {},
    flags: {},
    pipelines: {},
  };

  for (const [name, on] of Object.entries(c.flags ?? {})) out.flags[name] = new Flag({ name, enabled: on });

  for (const [name, entry] of Object.entries((c.breakers ?? {}) as unknown as Record<string, Entry>)) {
    const path = `breakers.${name}`;
    const breaker = building(
      path,
      entry,
      names,
      () => new CircuitBreaker({ name, ...without(entry, 'state'), ...withClock }),
    );
    if (entry.state === 'isolated') breaker.isolate();
    else if (entry.state === 'disabled') breaker.disable();
    out.breakers[name] = breaker;
  }

  for (const [name, entry] of Object.entries((c.retries ?? {}) as unknown as Record<string, Entry>)) {
    const path = `retries.${name}`;
    out.retries[name] = building(path, entry, names, () => {
      const b = entry.backoff as Entry | undefined;
      let backoff: ReturnType<typeof constant> | undefined;
      if (b !== undefined) {
        if (b.type === undefined)
          throw new TypeError('backoff.type must be "constant" or "exponential", got undefined');
        const own =
          b.type === 'constant' ? ['type', 'delay'] : ['type', 'initial', 'max', 'factor', 'jitter'];
        const stray = Object.keys(b).find((k) => !own.includes(k));
        if (stray !== undefined) {
          throw new TypeError(
            `backoff.${stray} does not apply to a ${String(b.type)} backoff (it takes ${own.join(', ')})`,
          );
        }
        if (b.type === 'constant') {
          if (b.delay === undefined) throw new TypeError('backoff.delay is required for a constant backoff');
          backoff = constant(b.delay as number);
        } else backoff = exponential(without(b, 'type'));
      }
      const rest = without(entry, 'backoff');
      return retry({
        name,
        ...rest,
        ...(backoff === undefined ? {} : { backoff }),
        ...withClock,
        ...withRandom,
      });
    });
  }

  for (const [name, entry] of Object.entries((c.timeouts ?? {}) as unknown as Record<string, Entry>)) {
    out.timeouts[name] = building(`timeouts.${name}`, entry, names, () =>
      timeout({ name, ...(entry as { ms: number }), ...withClock }),
    );
  }

  for (const [name, entry] of Object.entries((c.bulkheads ?? {}) as unknown as Record<string, Entry>)) {
    out.bulkheads[name] = building(`bulkheads.${name}`, entry, names, () =>
      bulkhead({ name, ...(entry as { maxConcurrent: number }), ...withClock }),
    );
  }

  for (const [name, entry] of Object.entries((c.chaos ?? {}) as unknown as Record<string, Entry>)) {
    const path = `chaos.${name}`;
    out.chaos[name] = building(path, entry, names, () => {
      if (entry.type === undefined) throw new TypeError('type must be "fault" or "latency", got undefined');
      if (entry.rate === undefined) throw new TypeError('rate is required, in [0, 1]');
      if (entry.flag !== undefined && entry.enabled !== undefined) {
        throw new TypeError('flag and enabled exclude each other: a flag switches the injection');
      }
      const flag = entry.flag === undefined ? undefined : out.flags[entry.flag as string];
      if (entry.flag !== undefined && flag === undefined) {
        throw new TypeError(`flag ${JSON.stringify(entry.flag)} is not among the flags`);
      }
      const enabled = flag === undefined ? (entry.enabled as boolean | undefined) : flag.read;
      const base = {
        name,
        rate: entry.rate as number,
        ...(enabled === undefined ? {} : { enabled }),
        ...withClock,
        ...withRandom,
      };
      let policy: ChaosPolicy;
      if (entry.type === 'latency') policy = injectLatency({ ...base, latency: entry.latency as number });
      else {
        if (entry.latency !== undefined) throw new TypeError('latency applies to type "latency" only');
        policy = injectFault(base);
      }
      flag?.controls(policy);
      return policy;
    });
  }

  for (const [name, entry] of Object.entries((c.pipelines ?? {}) as unknown as Record<string, Entry>)) {
    const path = `pipelines.${name}`;
    out.pipelines[name] = building(path, entry, names, () => {
      const refs = entry.policies as string[] | undefined;
      if (refs === undefined || refs.length === 0) {
        throw new TypeError('policies must name at least one policy, as kind:name (e.g. breaker:orders-db)');
      }
      const policies = refs.map((ref) => {
        const [kind, target, extra] = ref.split(':');
        const group = kind === undefined ? undefined : REFERENCES[kind];
        if (group === undefined || target === undefined || extra !== undefined) {
          throw new TypeError(
            `policies: ${JSON.stringify(ref)} must be kind:name with kind one of ${Object.keys(REFERENCES).join(', ')}`,
          );
        }
        const policy = (out[group] as Record<string, Policy<unknown>>)[target];
        if (policy === undefined)
          throw new TypeError(`policies: ${JSON.stringify(ref)} names no policy of ${group}`);
        return policy;
      });
      return pipeline(...policies);
    });
  }
  return out;
}

export { Namer };
