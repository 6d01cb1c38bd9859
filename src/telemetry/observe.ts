import type { EventEmitter } from 'eventemitter3';
import type { BulkheadPolicy } from '../bulkhead/bulkhead.js';
import type { ChaosPolicy } from '../chaos/inject.js';
import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { CircuitState } from '../circuit-breaker/state.js';
import type { FallbackPolicy } from '../fallback/fallback.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { RetryPolicy } from '../retry/retry.js';
import type { TimeoutPolicy } from '../timeout/timeout.js';
import { show } from '../validate.js';

/** The closed set of `outcome` label values. */
export type CallOutcome =
  | 'success'
  | 'failure'
  | 'rejected'
  | 'ignored'
  | 'timeout'
  | 'fallback'
  | 'stale_fallback';

/** Where an adapter (Prometheus, OpenTelemetry) records what {@link observe} sees. */
export interface MetricsSink {
  /**
   * Returns the counter of one series of calls. Asked once per policy and outcome when the
   * listeners are added, so that counting a call does no label lookup.
   */
  calls(name: string, policy: string, outcome: CallOutcome): () => void;
  /** Returns the recorder of one series of breaker call durations, in seconds; asked once, like {@link calls}. */
  durations(name: string, outcome: 'success' | 'failure'): (seconds: number) => void;
  state(name: string, state: CircuitState): void;
  transition(name: string, from: CircuitState, to: CircuitState): void;
  retried(name: string): void;
  gaveUp(name: string, reason: string): void;
  injected(name: string, kind: string): void;
}

/** Every policy breakwater ships, told apart by `kind` so that two copies of the package still work. */
type Known =
  | CircuitBreaker
  | RetryPolicy
  | TimeoutPolicy
  | FallbackPolicy
  | BulkheadPolicy
  | ChaosPolicy
  | Pipeline;

/** A policy that emits events (a pipeline's leaves). */
type Leaf = Exclude<Known, Pipeline>;

/** The listeners one {@link Observer} holds on one policy, and how many `observe` calls hold them. */
interface Hold {
  count: number;
  readonly remove: () => void;
}

/**
 * Forwards the events of policies to one `sink`, each policy listened to once however
 * many `observe` calls reach it: two instrumented pipelines that share a breaker or a
 * bulkhead, or the same policy instrumented twice into one registry, count each event
 * once. The listeners of a policy go when the last `observe` call holding it is released.
 */
export class Observer {
  private readonly holds = new Map<Leaf, Hold>();

  constructor(private readonly sink: MetricsSink) {}

  /** The breakers observed now, for the state gauge. */
  get breakers(): CircuitBreaker[] {
    return this.leaves().filter((p): p is CircuitBreaker => p.kind === 'circuit-breaker');
  }

  /** The bulkheads observed now, for gauges read at scrape time. */
  get bulkheads(): BulkheadPolicy[] {
    return this.leaves().filter((p): p is BulkheadPolicy => p.kind === 'bulkhead');
  }

  /** Policies observed now. */
  get size(): number {
    return this.holds.size;
  }

  /**
   * Walks `target` (into pipelines, at any depth) and observes every policy in it. Checks
   * the whole target first: a TypeError for anything but a breakwater policy leaves no
   * listener behind. Returns the release of exactly what this call took; releasing twice is harmless.
   */
  observe(target: object | readonly object[]): () => void {
    const leaves = policiesOf(target);
    for (const leaf of leaves) {
      const hold = this.holds.get(leaf);
      if (hold !== undefined) hold.count++;
      else this.holds.set(leaf, { count: 1, remove: listenTo(leaf, this.sink) });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const leaf of leaves) {
        const hold = this.holds.get(leaf)!;
        if (--hold.count === 0) {
          this.holds.delete(leaf);
          hold.remove();
        }
      }
    };
  }

  private leaves(): Leaf[] {
    return [...this.holds.keys()];
  }
}

/** The policies of `target`, each once, pipelines flattened; throws a TypeError for anything else. */
export function policiesOf(target: object | readonly object[]): Leaf[] {
  const leaves: Leaf[] = [];
  const seen = new Set<unknown>();
  function visit(policy: unknown): void {
    if (seen.has(policy)) return;
    seen.add(policy);
    const kind = typeof policy === 'object' && policy !== null ? (policy as Known).kind : undefined;
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
        leaves.push(policy as Leaf);
        return;
      default:
        throw new TypeError(`instrument: expected a breakwater policy or pipeline, got ${show(policy)}`);
    }
  }
  for (const t of Array.isArray(target) ? target : [target]) visit(t);
  return leaves;
}

/** Adds the listeners that forward `policy`'s events to `sink`; returns their removal. */
function listenTo(p: Leaf, sink: MetricsSink): () => void {
  const removers: (() => void)[] = [];
  function listen<Events extends EventEmitter.ValidEventTypes, K extends EventEmitter.EventNames<Events>>(
    emitter: EventEmitter<Events>,
    event: K,
    fn: EventEmitter.EventListener<Events, K>,
  ): void {
    emitter.on(event, fn);
    removers.push(() => emitter.off(event, fn));
  }
  const name = p.name;
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
  }
  return () => {
    for (const remove of removers.splice(0)) remove();
  };
}
