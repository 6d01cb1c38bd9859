import * as v from '../validate.js';
import { checkConfig, createPolicies, Namer, setOrigins } from './create.js';
import { type BreakwaterConfig, GROUP_NAMES, GROUPS, type Leaf, NAME, type Shape } from './schema.js';

/** Options of {@link fromEnv}. */
export interface FromEnvOptions {
  /**
   * Variables named `<prefix>__<GROUP>__<NAME>__<OPTION>` are read; others are left alone.
   * @default 'BREAKWATER'
   */
  prefix?: string;
  /** Where to read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Also read feature flags named `<features>_<NAME>` (e.g. `FEATURE_CHAOS=on` with `'FEATURE'`)
   * into `flags`. Off unless given, since other software may use such names.
   * @default none
   * @example
   * ```ts
   * fromEnv({ features: 'FEATURE' }) // FEATURE_CHAOS=on -> { flags: { chaos: true } }
   * ```
   */
  features?: string;
}

/** Options of {@link toEnv}. */
export interface ToEnvOptions {
  /** @default 'BREAKWATER' */
  prefix?: string;
}

const SEGMENT = /^[A-Za-z0-9]+(_[A-Za-z0-9]+)*$/;
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const BOOLEANS: Record<string, boolean> = {
  true: true,
  false: false,
  on: true,
  off: false,
  yes: true,
  no: false,
  '1': true,
  '0': false,
};

/** `FAILURE_THRESHOLD` -> `failureThreshold`. */
function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `failureThreshold` -> `FAILURE_THRESHOLD`. */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** `ORDERS_DB` -> `orders-db`, and back. */
const kebab = (segment: string) => segment.toLowerCase().replace(/_/g, '-');
const shout = (name: string) => name.replace(/-/g, '_').toUpperCase();

function parseLeaf(leaf: Leaf, raw: string, variable: string): unknown {
  const text = raw.trim();
  const bad = (what: string) => new TypeError(`${variable} must be ${what}, got ${JSON.stringify(raw)}`);
  if (typeof leaf !== 'string') {
    const word = text.toLowerCase();
    if (!leaf.includes(word)) throw bad(`one of ${leaf.join(', ')}`);
    return word;
  }
  switch (leaf) {
    case 'integer':
    case 'count':
      if (leaf === 'count' && /^\+?infinity$/i.test(text)) return Number.POSITIVE_INFINITY;
      if (!/^[+-]?\d+$/.test(text)) throw bad(leaf === 'count' ? 'an integer or Infinity' : 'an integer');
      return Number(text);
    case 'ms':
    case 'msOrInfinity': {
      if (leaf === 'msOrInfinity' && /^\+?infinity$/i.test(text)) return Number.POSITIVE_INFINITY;
      const m = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*(ms|s|m|h)?$/i.exec(text);
      if (m === null) {
        throw bad(
          `a duration: a number of ms, or with a unit (250ms, 30s, 5m, 1h)${leaf === 'ms' ? '' : ', or Infinity'}`,
        );
      }
      return Number(m[1]) * UNITS[(m[2] ?? 'ms').toLowerCase()]!;
    }
    case 'number':
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw bad('a number');
      return Number(text);
    case 'boolean': {
      const b = BOOLEANS[text.toLowerCase()];
      if (b === undefined) throw bad('true or false (or on/off, yes/no, 1/0)');
      return b;
    }
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'name':
      if (!NAME.test(text)) throw bad('a kebab-case name');
      return text;
  }
}

function validPrefix(name: string, value: unknown): string {
  if (typeof value !== 'string' || !SEGMENT.test(value)) {
    throw new TypeError(
      `${name} must be a name like BREAKWATER (letters, digits, single underscores), got ${v.show(value)}`,
    );
  }
  return value;
}

/**
 * Reads policies' options from environment variables into a plain config for
 * {@link createPolicies}:
 *
 * - `BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD=5` sets `breakers['orders-db'].failureThreshold`:
 *   groups are `BREAKERS`, `RETRIES`, `TIMEOUTS`, `BULKHEADS`, `CHAOS`, `FLAGS`, `PIPELINES`; a policy's
 *   name is its segment in kebab-case (`ORDERS_DB` is `orders-db`); options are camelCase
 *   (`FAILURE_THRESHOLD` is `failureThreshold`), nested ones one segment each (`__WINDOW__SIZE`).
 * - Values: integers, numbers, `Infinity` where a limit may be none, durations as ms or with a
 *   unit (`250ms`, `30s`, `5m`, `1h`), booleans (`true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0`),
 *   words (`count`, `exponential`), comma-separated lists (`PIPELINES__ORDERS__POLICIES=retry:orders,breaker:orders-db`).
 * - `BREAKWATER__FLAGS__CHAOS=on` makes a flag, which a chaos injection's `FLAG=chaos` follows.
 *
 * Every value is parsed and then checked by the constructors themselves (the policies are
 * built once and dropped), so a mistake throws here: a TypeError or RangeError whose message
 * starts with the variable's name, with the constructor's error as `cause`. An unknown group,
 * option or malformed name under the prefix is an error too, never silently ignored.
 *
 * @example
 * ```ts
 * // BREAKWATER__BREAKERS__ORDERS_DB__OPEN_TIMEOUT=30s
 * const config = fromEnv(); // { breakers: { 'orders-db': { openTimeout: 30000 } } }
 * const { breakers } = createPolicies(config);
 * ```
 */
export function fromEnv(options: FromEnvOptions = {}): BreakwaterConfig {
  const o = v.object('fromEnv options', options);
  v.knownKeys('fromEnv', o, ['prefix', 'env', 'features']);
  const prefix = o.prefix === undefined ? 'BREAKWATER' : validPrefix('prefix', o.prefix);
  const features = o.features === undefined ? undefined : validPrefix('features', o.features);
  const env = o.env === undefined ? process.env : v.object('env', o.env);
  const config: Record<string, Record<string, unknown>> = {};
  const origins = new Map<string, string>();
  const entries = new Map<string, string>();
  const set = (path: string[], value: unknown, variable: string) => {
    const key = path.join('.');
    const before = origins.get(key);
    if (before !== undefined) throw new TypeError(`${variable}: sets the same option as ${before}`);
    origins.set(key, variable);
    let node: Record<string, unknown> = config;
    for (const segment of path.slice(0, -1)) {
      node[segment] ??= {};
      node = node[segment] as Record<string, unknown>;
    }
    node[path.at(-1)!] = value;
  };

  const head = `${prefix}__`;
  for (const variable of Object.keys(env).sort()) {
    const raw = env[variable];
    if (raw === undefined) continue;
    if (typeof raw !== 'string') throw new TypeError(`${variable} must be a string, got ${v.show(raw)}`);
    if (
      features !== undefined &&
      variable.startsWith(`${features}_`) &&
      !variable.startsWith(`${features}__`)
    ) {
      const segment = variable.slice(features.length + 1);
      if (!SEGMENT.test(segment))
        throw new TypeError(`${variable}: a feature flag is named like ${features}_CHAOS`);
      set(['flags', kebab(segment)], parseLeaf('boolean', raw, variable), variable);
      continue;
    }
    if (!variable.startsWith(head)) continue;
    if (raw.trim() === '') throw new TypeError(`${variable} is empty: unset it, or give it a value`);
    const segments = variable.slice(head.length).split('__');
    if (!segments.every((s) => SEGMENT.test(s))) {
      throw new TypeError(
        `${variable}: malformed name; expected ${head}GROUP__NAME__OPTION, e.g. ${head}BREAKERS__ORDERS_DB__FAILURE_THRESHOLD`,
      );
    }
    const group = camel(segments[0]!);
    if (!(GROUP_NAMES as readonly string[]).includes(group)) {
      throw new TypeError(
        `${variable}: unknown group ${segments[0]}; known groups are ${GROUP_NAMES.map(snake).join(', ')}`,
      );
    }
    if (group === 'flags') {
      if (segments.length !== 2)
        throw new TypeError(`${variable}: a flag is set as ${head}FLAGS__NAME=on|off`);
      set(['flags', kebab(segments[1]!)], parseLeaf('boolean', raw, variable), variable);
      continue;
    }
    if (segments.length === 2) {
      // A policy with every option at its default has no option to set: it is declared by name.
      if (raw.trim().toLowerCase() !== 'defaults') {
        throw new TypeError(
          `${variable} must be "defaults" (a policy with default options), or set options as ${variable}__OPTION`,
        );
      }
      origins.set(`${group}.${kebab(segments[1]!)}`, variable);
      entries.set(`${group}.${kebab(segments[1]!)}`, variable);
      config[group] ??= {};
      config[group][kebab(segments[1]!)] ??= {};
      continue;
    }
    let shape: Shape | Leaf = GROUPS[group as keyof typeof GROUPS];
    const path = [group, kebab(segments[1]!)];
    entries.set(
      path.join('.'),
      variable.slice(0, head.length + segments[0]!.length + 2 + segments[1]!.length),
    );
    for (const segment of segments.slice(2)) {
      const key = camel(segment);
      const inner: Shape | Leaf | undefined =
        typeof shape === 'object' && !Array.isArray(shape) && Object.hasOwn(shape, key)
          ? (shape as Shape)[key]
          : undefined;
      if (inner === undefined) {
        const known =
          typeof shape === 'object' && !Array.isArray(shape)
            ? Object.keys(shape).map(snake).join(', ')
            : 'none';
        throw new TypeError(`${variable}: unknown option ${segment}; known options here are ${known}`);
      }
      path.push(key);
      shape = inner;
    }
    if (typeof shape === 'object' && !Array.isArray(shape)) {
      throw new TypeError(
        `${variable}: ${segments.at(-1)} has options of its own: ${Object.keys(shape).map(snake).join(', ')}`,
      );
    }
    set(path, parseLeaf(shape as Leaf, raw, variable), variable);
  }
  setOrigins(config, { options: origins, entries });
  // Built once to check every value with the constructors' own rules; the policies are dropped.
  createPolicies(config);
  return config as BreakwaterConfig;
}

function format(leaf: Leaf, value: unknown): string {
  if (leaf === 'list') return (value as string[]).join(',');
  return String(value);
}

function emit(
  shape: Shape,
  value: Record<string, unknown>,
  variable: string,
  out: Record<string, string>,
): void {
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    const inner = shape[key]!;
    const name = `${variable}__${snake(key)}`;
    if (typeof inner === 'object' && !Array.isArray(inner))
      emit(inner as Shape, item as Record<string, unknown>, name, out);
    else out[name] = format(inner as Leaf, item);
  }
}

/**
 * The environment variables that {@link fromEnv} reads back as `config`: its inverse, for
 * writing a `.env` file or a deployment manifest. The config is checked as `createPolicies`
 * checks it (unknown keys are errors). Numbers are written as ms and counts, `Infinity` as `Infinity`.
 *
 * @example
 * ```ts
 * toEnv({ breakers: { 'orders-db': { failureThreshold: 5 } } });
 * // { BREAKWATER__BREAKERS__ORDERS_DB__FAILURE_THRESHOLD: '5' }
 * ```
 */
export function toEnv(config: BreakwaterConfig, options: ToEnvOptions = {}): Record<string, string> {
  const o = v.object('toEnv options', options);
  v.knownKeys('toEnv', o, ['prefix']);
  const prefix = o.prefix === undefined ? 'BREAKWATER' : validPrefix('prefix', o.prefix);
  const c = checkConfig(config, new Namer(undefined)) as Record<string, Record<string, unknown>>;
  const out: Record<string, string> = {};
  for (const [group, entries] of Object.entries(c)) {
    for (const [name, entry] of Object.entries(entries)) {
      const variable = `${prefix}__${snake(group)}__${shout(name)}`;
      if (group === 'flags') out[variable] = String(entry);
      else if (Object.keys(entry as object).length === 0) out[variable] = 'defaults';
      else emit(GROUPS[group as keyof typeof GROUPS], entry as Record<string, unknown>, variable, out);
    }
  }
  return out;
}
