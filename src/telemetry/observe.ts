import type { EventEmitter } from 'eventemitter3';
import type { BulkheadPolicy } from '../bulkhead/bulkhead.js';
import type { ChaosPolicy, InjectedEvent } from '../chaos/inject.js';
import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { CircuitState } from '../circuit-breaker/state.js';
import type { CoalescePolicy } from '../coalesce/coalesce.js';
import type { DeferToPolicy } from '../deferred/defer-to.js';
import type { FallbackPolicy } from '../fallback/fallback.js';
import type { HedgePolicy } from '../hedge/hedge.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Priority } from '../policy.js';
import type { RateLimitPolicy } from '../rate-limit/rate-limit.js';
import type { GaveUpEvent, RetryPolicy } from '../retry/retry.js';
import type { LoadShedderPolicy } from '../shedder/shedder.js';
import type { TimeoutPolicy } from '../timeout/timeout.js';
import * as v from '../validate.js';
import { show } from '../validate.js';

/** The closed set of `outcome` label values. */
export type CallOutcome =
  | 'success'
  | 'failure'
  | 'rejected'
  | 'ignored'
  | 'timeout'
  | 'fallback'
  | 'stale_fallback'
  | 'hedged'
  | 'coalesced'
  | 'deferred';

// The closed sets of label values, as records so that the compiler rejects a missing or unknown one:
// removing a policy's series enumerates them (prom-client removes one exact label set at a time).
const OUTCOME_SET: Record<CallOutcome, true> = {
  success: true,
  failure: true,
  rejected: true,
  ignored: true,
  timeout: true,
  fallback: true,
  stale_fallback: true,
  hedged: true,
  coalesced: true,
  deferred: true,
};
const GIVE_UP_REASON_SET: Record<GaveUpEvent['reason'], true> = {
  'retries-exhausted': true,
  'not-retryable': true,
  'retry-after-too-long': true,
  'max-elapsed': true,
  'budget-exhausted': true,
};
const INJECTION_KIND_SET: Record<InjectedEvent['kind'], true> = {
  fault: true,
  latency: true,
  outcome: true,
  behavior: true,
};
export const OUTCOMES = Object.keys(OUTCOME_SET) as readonly CallOutcome[];
export const GIVE_UP_REASONS = Object.keys(GIVE_UP_REASON_SET) as readonly GaveUpEvent['reason'][];
export const INJECTION_KINDS = Object.keys(INJECTION_KIND_SET) as readonly InjectedEvent['kind'][];

/** Buckets (seconds) of the call duration histogram, in both adapters. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The label that policies past an adapter's `maxSeries` distinct names share. */
export const OTHER = 'other';

/** The default of the adapters' `maxSeries` option. */
export const DEFAULT_MAX_SERIES = 1_000;

/** Validates an adapter's `maxSeries` option: an integer >= 1, or `Infinity`. */
export function validMaxSeries(value: unknown): number {
  return value === undefined ? DEFAULT_MAX_SERIES : v.countOrUnlimited('maxSeries', value, 1);
}

/**
 * What the adapters read from an adaptive concurrency limit (`adaptiveLimit`), told apart by
 * `kind` like every policy, so that the adapters need not import it.
 */
export interface AdaptiveLimitLike
  extends EventEmitter<{
    limitChanged: [{ readonly from: number; readonly to: number }];
    rejected: [{ readonly priority: Priority; readonly reason: string }];
  }> {
  readonly kind: 'adaptive-limit';
  readonly name: string;
  readonly limit: number;
  readonly inFlight: number;
  readonly queued: number;
}

/** Where an adapter (Prometheus, OpenTelemetry) records what {@link observe} sees. */
export interface MetricsSink {
  /**
   * Returns the counter of one series of calls. Asked once per policy and outcome when the
   * listeners are added, so that counting a call does no label lookup.
   */
  calls(name: string, policy: PolicyKind, outcome: CallOutcome): () => void;
  /** Returns the recorder of one series of breaker call durations, in seconds; asked once, like {@link calls}. */
  durations(name: string, outcome: 'success' | 'failure'): (seconds: number) => void;
  state(name: string, state: CircuitState): void;
  transition(name: string, from: CircuitState, to: CircuitState): void;
  retried(name: string): void;
  gaveUp(name: string, reason: string): void;
  injected(name: string, kind: string): void;
  /** A load shedder refused a call of `priority`. */
  shed(name: string, priority: Priority): void;
  /** An adaptive limit moved up or down. */
  limitChanged(name: string, direction: 'up' | 'down'): void;
  /**
   * Drops every series of the policies of `kind` called `name`: the last of them is no longer
   * observed (its listeners are already gone).
   */
  forget(kind: PolicyKind, name: string): void;
}

/** Every policy breakwater ships, told apart by `kind` so that two copies of the package still work. */
type Known =
  | CircuitBreaker
  | RetryPolicy
  | TimeoutPolicy
  | FallbackPolicy
  | BulkheadPolicy
  | ChaosPolicy
  | LoadShedderPolicy
  | AdaptiveLimitLike
  | RateLimitPolicy
  | HedgePolicy
  | CoalescePolicy
  | DeferToPolicy<unknown>
  | Pipeline;

/** A policy that emits events (a pipeline's leaves). */
export type Leaf = Exclude<Known, Pipeline>;

/**
 * What the adapters read from a `CircuitBreakerGroup`, told apart by `kind`: its breakers come
 * and go (`created`, `evicted`), and are all recorded under the group's name, where the state
 * gauge counts the breakers in each state (as for {@link OTHER}).
 */
export interface BreakerGroupLike
  extends EventEmitter<{
    created: [{ readonly breaker: CircuitBreaker }];
    evicted: [{ readonly breaker: CircuitBreaker }];
  }> {
  readonly kind: 'circuit-breaker-group';
  readonly name: string;
  [Symbol.iterator](): IterableIterator<[string, CircuitBreaker]>;
}

/** What `instrument` takes apart: policies, and groups of breakers. */
export type Item = Leaf | BreakerGroupLike;

const isGroup = (item: Item): item is BreakerGroupLike => item.kind === 'circuit-breaker-group';

/** The names under which a group's breakers are recorded, per roster: their state gauge counts breakers. */
const groupNames = new WeakMap<Roster, Map<string, BreakerGroupLike>>();

/** The breaker names of `roster` whose state gauge counts breakers per state: {@link OTHER}, and every group's. */
export function countedNames(roster: Roster): string[] {
  return [OTHER, ...(groupNames.get(roster)?.keys() ?? [])];
}

export type PolicyKind = Leaf['kind'];

/**
 * The policies recorded into one set of metrics, by kind and name, each with the number of
 * observers listening to it. Series are labelled by name (and kind), so this is what tells
 * whether a name is free, and when the last policy behind a series is gone.
 */
export type Roster = Map<PolicyKind, Map<string, Map<Leaf, number>>>;

/** The listeners one {@link Observer} holds on one policy, and how many `observe` calls hold them. */
interface Hold {
  count: number;
  /** The `name` label its series carry: its name, or {@link OTHER} past `maxSeries`. */
  readonly label: string;
  readonly remove: () => void;
}

/**
 * Forwards the events of policies to one `sink`, each policy listened to once however
 * many `observe` calls reach it: two instrumented pipelines that share a breaker or a
 * bulkhead, or the same policy instrumented twice into one registry, count each event
 * once. The listeners of a policy go when the last `observe` call holding it is released,
 * and its series with the last policy of its kind and name.
 */
export class Observer {
  private readonly holds = new Map<Leaf, Hold>();

  /**
   * @param where names the metrics in errors, e.g. `the metrics "breakwater_*" of this registry`.
   * @param roster shared by the observers that write into the same metrics (two copies of breakwater).
   */
  constructor(
    private readonly sink: MetricsSink,
    readonly where: string,
    readonly roster: Roster = new Map(),
  ) {}

  /** Policies this observer listens to now. */
  get size(): number {
    return this.holds.size;
  }

  /**
   * Walks `target` (into pipelines, at any depth) and observes every policy in it. Checks
   * the whole target first: a TypeError for anything but a breakwater policy, or for a
   * breaker whose name another breaker holds in these metrics, leaves no listener behind.
   * Policies whose names would pass `maxSeries` distinct names in these metrics are
   * recorded under the name {@link OTHER}. Returns the release of exactly what this call
   * took; releasing twice is harmless.
   */
  observe(target: object | readonly object[], maxSeries = Number.POSITIVE_INFINITY): () => void {
    const items = policiesOf(target);
    const { leaves, groups, labels } = precheck(items, this.roster, this.where, maxSeries, this.holds);
    for (const leaf of leaves) this.hold(leaf, labels.get(leaf)!);
    const releases = groups.map((group) => this.follow(group));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const leaf of leaves) this.drop(leaf);
      for (const release of releases) release();
    };
  }

  private hold(leaf: Leaf, label: string): void {
    const hold = this.holds.get(leaf);
    if (hold !== undefined) hold.count++;
    else {
      this.holds.set(leaf, { count: 1, label, remove: listenTo(leaf, this.sink, label) });
      enroll(this.roster, leaf, label);
    }
  }

  private drop(leaf: Leaf): void {
    const hold = this.holds.get(leaf);
    if (hold === undefined || --hold.count !== 0) return;
    this.holds.delete(leaf);
    hold.remove();
    if (unenroll(this.roster, leaf, hold.label)) this.sink.forget(leaf.kind, hold.label);
  }

  /** Holds a group's breakers under its name as they come and go; returns the release of all of it. */
  private follow(group: BreakerGroupLike): () => void {
    let names = groupNames.get(this.roster);
    if (names === undefined) {
      names = new Map();
      groupNames.set(this.roster, names);
    }
    names.set(group.name, group);
    const mine = new Set<CircuitBreaker>();
    const take = (breaker: CircuitBreaker) => {
      if (mine.has(breaker)) return;
      mine.add(breaker);
      this.hold(breaker, group.name);
    };
    const created = ({ breaker }: { readonly breaker: CircuitBreaker }) => take(breaker);
    const evicted = ({ breaker }: { readonly breaker: CircuitBreaker }) => {
      if (mine.delete(breaker)) this.drop(breaker);
    };
    for (const [, breaker] of group) take(breaker);
    group.on('created', created);
    group.on('evicted', evicted);
    return () => {
      group.off('created', created);
      group.off('evicted', evicted);
      for (const breaker of mine) this.drop(breaker);
      mine.clear();
      // The name stays a group's while another instrument() still follows one under it.
      if (this.roster.get('circuit-breaker')?.has(group.name) !== true) names.delete(group.name);
    };
  }
}

/**
 * Checks what {@link Observer.observe} is given against what `roster` records, before
 * anything is registered or listened to: the name clashes of breakers and groups (each a
 * TypeError), and the `name` label of each policy.
 */
export function precheck(
  items: readonly Item[],
  roster: Roster | undefined,
  where: string,
  maxSeries: number,
  held?: ReadonlyMap<Leaf, { readonly label: string }>,
): { leaves: Leaf[]; groups: BreakerGroupLike[]; labels: Map<Leaf, string> } {
  const leaves = items.filter((item): item is Leaf => !isGroup(item));
  const groups = items.filter(isGroup);
  const labels = labelsOf(leaves, roster, maxSeries, held);
  checkNames(leaves, roster, where, labels);
  checkGroups(groups, leaves, roster, where);
  return { leaves, groups, labels };
}

/**
 * Throws a TypeError if a group is named like a breaker recorded on its own (or like another
 * group) in `roster` or in `leaves`: the state gauge of a group's name counts its breakers.
 */
function checkGroups(
  groups: readonly BreakerGroupLike[],
  leaves: readonly Leaf[],
  roster: Roster | undefined,
  where: string,
): void {
  const names = roster === undefined ? undefined : groupNames.get(roster);
  const seen = new Map<string, BreakerGroupLike>();
  for (const group of groups) {
    const other = seen.get(group.name) ?? names?.get(group.name);
    const clash =
      (other !== undefined && other !== group) ||
      (other === undefined && roster?.get('circuit-breaker')?.has(group.name) === true) ||
      leaves.some((leaf) => leaf.kind === 'circuit-breaker' && leaf.name === group.name);
    if (clash) {
      throw new TypeError(
        `instrument: the circuit breaker group ${JSON.stringify(group.name)} is named like another breaker or group in ${where}; ` +
          'give it a name of its own (its state series count its breakers)',
      );
    }
    seen.set(group.name, group);
  }
}

/**
 * The `name` label of each leaf: its own name when that series exists already or when fewer
 * than `maxSeries` distinct names (of any kind) are recorded, else {@link OTHER}. A leaf
 * already held keeps its label.
 */
export function labelsOf(
  leaves: readonly Leaf[],
  roster: Roster | undefined,
  maxSeries: number,
  held?: ReadonlyMap<Leaf, { readonly label: string }>,
): Map<Leaf, string> {
  const labels = new Map<Leaf, string>();
  let distinct = 0;
  if (roster !== undefined) for (const byName of roster.values()) distinct += byName.size;
  const added = new Set<string>();
  for (const leaf of leaves) {
    const kept = held?.get(leaf)?.label;
    if (kept !== undefined) {
      labels.set(leaf, kept);
      continue;
    }
    const key = `${leaf.kind}\0${leaf.name}`;
    const exists = roster?.get(leaf.kind)?.has(leaf.name) === true || added.has(key);
    if (exists || distinct < maxSeries) {
      if (!exists) {
        added.add(key);
        distinct++;
      }
      labels.set(leaf, leaf.name);
    } else labels.set(leaf, OTHER);
  }
  return labels;
}

/**
 * Throws a TypeError if a breaker of `leaves` is named like another breaker in `leaves` or
 * in `roster`: the state gauge of a name can show one state. Breakers folded into
 * {@link OTHER} are exempt: that series counts breakers per state. Other policies sharing a
 * name add into the same series (their counters and bulkhead gauges sum), as documented.
 */
export function checkNames(
  leaves: readonly Leaf[],
  roster: Roster | undefined,
  where: string,
  labels?: ReadonlyMap<Leaf, string>,
): void {
  const breakers = roster?.get('circuit-breaker');
  const groups = roster === undefined ? undefined : groupNames.get(roster);
  const seen = new Map<string, Leaf>();
  for (const leaf of leaves) {
    if (leaf.kind !== 'circuit-breaker' || labels?.get(leaf) === OTHER) continue;
    if (groups?.has(leaf.name) === true) {
      throw new TypeError(
        `instrument: a circuit breaker is named like the circuit breaker group ${JSON.stringify(leaf.name)} in ${where}; ` +
          'give each its own name (the group counts its breakers under its name)',
      );
    }
    const other = seen.get(leaf.name) ?? breakers?.get(leaf.name)?.keys().next().value;
    if (other !== undefined && other !== leaf) {
      throw new TypeError(
        `instrument: two circuit breakers are named ${JSON.stringify(leaf.name)} in ${where}; ` +
          'give each breaker its own name (the state gauge shows one state per name)',
      );
    }
    seen.set(leaf.name, leaf);
  }
}

/** The policies of `kind` in `roster`, by name. */
export function named<K extends PolicyKind>(
  roster: Roster,
  kind: K,
): ReadonlyMap<string, ReadonlyMap<Extract<Leaf, { kind: K }>, number>> {
  return (roster.get(kind) ?? EMPTY) as ReadonlyMap<string, ReadonlyMap<Extract<Leaf, { kind: K }>, number>>;
}

const EMPTY: ReadonlyMap<never, never> = new Map<never, never>();

function enroll(roster: Roster, leaf: Leaf, label: string): void {
  let byName = roster.get(leaf.kind);
  if (byName === undefined) {
    byName = new Map();
    roster.set(leaf.kind, byName);
  }
  let policies = byName.get(label);
  if (policies === undefined) {
    policies = new Map();
    byName.set(label, policies);
  }
  policies.set(leaf, (policies.get(leaf) ?? 0) + 1);
}

/** Takes one observer's hold of `leaf` off `roster`; true when no policy of its kind and name is left. */
function unenroll(roster: Roster, leaf: Leaf, label: string): boolean {
  const byName = roster.get(leaf.kind)!;
  const policies = byName.get(label)!;
  const count = policies.get(leaf)! - 1;
  if (count !== 0) {
    policies.set(leaf, count);
    return false;
  }
  policies.delete(leaf);
  if (policies.size !== 0) return false;
  byName.delete(label);
  if (byName.size === 0) roster.delete(leaf.kind);
  return true;
}

/** The policies (and breaker groups) of `target`, each once, pipelines flattened; throws a TypeError for anything else. */
export function policiesOf(target: object | readonly object[]): Item[] {
  const leaves: Item[] = [];
  const seen = new Set<unknown>();
  function visit(policy: unknown): void {
    if (seen.has(policy)) return;
    seen.add(policy);
    const kind =
      typeof policy === 'object' && policy !== null ? (policy as Known | BreakerGroupLike).kind : undefined;
    switch (kind) {
      case 'pipeline':
        for (const inner of (policy as Pipeline).policies) visit(inner);
        return;
      case 'circuit-breaker':
      case 'retry':
      case 'timeout':
      case 'fallback':
      case 'bulkhead':
      case 'chaos':
      case 'load-shedder':
      case 'adaptive-limit':
      case 'rate-limit':
      case 'hedge':
      case 'coalesce':
      case 'defer-to':
      case 'circuit-breaker-group':
        leaves.push(policy as Item);
        return;
      default:
        throw new TypeError(
          `instrument: expected a breakwater policy, pipeline or circuit breaker group, got ${show(policy)}`,
        );
    }
  }
  for (const t of Array.isArray(target) ? target : [target]) visit(t);
  return leaves;
}

/** Adds the listeners that forward `policy`'s events to `sink`; returns their removal. */
function listenTo(p: Leaf, sink: MetricsSink, name: string): () => void {
  const removers: (() => void)[] = [];
  function listen<Events extends EventEmitter.ValidEventTypes, K extends EventEmitter.EventNames<Events>>(
    emitter: EventEmitter<Events>,
    event: K,
    fn: EventEmitter.EventListener<Events, K>,
  ): void {
    emitter.on(event, fn);
    removers.push(() => emitter.off(event, fn));
  }
  switch (p.kind) {
    case 'circuit-breaker':
      sink.state(name, p.state);
      listen(p, 'stateChanged', (e) => {
        sink.state(name, e.to);
        sink.transition(name, e.from, e.to);
      });
      {
        const succeeded = sink.calls(name, p.kind, 'success');
        const successTime = sink.durations(name, 'success');
        const failed = sink.calls(name, p.kind, 'failure');
        const failureTime = sink.durations(name, 'failure');
        listen(p, 'succeeded', (e) => {
          succeeded();
          successTime(e.duration / 1000);
        });
        listen(p, 'failed', (e) => {
          failed();
          failureTime(e.duration / 1000);
        });
        listen(p, 'rejected', sink.calls(name, p.kind, 'rejected'));
        listen(p, 'ignored', sink.calls(name, p.kind, 'ignored'));
      }
      break;
    case 'retry':
      listen(p, 'retried', () => sink.retried(name));
      listen(p, 'gaveUp', (e) => sink.gaveUp(name, e.reason));
      break;
    case 'timeout':
      listen(p, 'timedOut', sink.calls(name, p.kind, 'timeout'));
      break;
    case 'fallback':
      {
        const fresh = sink.calls(name, p.kind, 'fallback');
        const stale = sink.calls(name, p.kind, 'stale_fallback');
        listen(p, 'fellBack', (e) => (e.stale ? stale() : fresh()));
      }
      break;
    case 'bulkhead':
      listen(p, 'rejected', sink.calls(name, p.kind, 'rejected'));
      break;
    case 'chaos':
      listen(p, 'injected', (e) => sink.injected(name, e.kind));
      break;
    case 'load-shedder':
      {
        const refused = sink.calls(name, p.kind, 'rejected');
        listen(p, 'shed', (e) => {
          refused();
          sink.shed(name, e.priority);
        });
      }
      break;
    case 'adaptive-limit':
      listen(p, 'limitChanged', (e) => sink.limitChanged(name, e.to > e.from ? 'up' : 'down'));
      listen(p, 'rejected', sink.calls(name, p.kind, 'rejected'));
      break;
    case 'rate-limit':
      listen(p, 'rejected', sink.calls(name, p.kind, 'rejected'));
      break;
    case 'hedge':
      listen(p, 'hedged', sink.calls(name, p.kind, 'hedged'));
      break;
    case 'coalesce':
      listen(p, 'coalesced', sink.calls(name, p.kind, 'coalesced'));
      break;
    case 'defer-to':
      listen(p, 'deferred', sink.calls(name, p.kind, 'deferred'));
      break;
  }
  return () => {
    for (const remove of removers.splice(0)) remove();
  };
}
