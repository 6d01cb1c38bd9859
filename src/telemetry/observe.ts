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
  call(name: string, policy: string, outcome: CallOutcome): void;
  /** A breaker call's duration, in seconds. */
  duration(name: string, outcome: 'success' | 'failure', seconds: number): void;
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

export interface Observation {
  /** The bulkheads found, for gauges read at scrape time. */
  readonly bulkheads: readonly BulkheadPolicy[];
  /** The breakers found, for the state gauge. */
  readonly breakers: readonly CircuitBreaker[];
  /** Removes every listener {@link observe} added. */
  dispose(): void;
}

/**
 * Walks a policy (into pipelines, at any depth) and forwards each of its events to
 * `sink`. Its listeners are its own: they see every later event whatever other
 * listeners exist, and `dispose()` removes exactly them.
 */
export function observe(target: object | readonly object[], sink: MetricsSink): Observation {
  const removers: (() => void)[] = [];
  const bulkheads: BulkheadPolicy[] = [];
  const breakers: CircuitBreaker[] = [];
  const seen = new Set<object>();

  function listen<Events extends EventEmitter.ValidEventTypes, K extends EventEmitter.EventNames<Events>>(
    emitter: EventEmitter<Events>,
    event: K,
    fn: EventEmitter.EventListener<Events, K>,
  ): void {
    emitter.on(event, fn);
    removers.push(() => emitter.off(event, fn));
  }

  function visit(policy: object): void {
    if (seen.has(policy)) return;
    seen.add(policy);
    const p = policy as Known;
    switch (p.kind) {
      case 'pipeline':
        for (const inner of p.policies) visit(inner);
        return;
      case 'circuit-breaker': {
        const name = p.name;
        breakers.push(p);
        sink.state(name, p.state);
        listen(p, 'stateChanged', (e) => {
          sink.state(name, e.to);
          sink.transition(name, e.from, e.to);
        });
        listen(p, 'succeeded', (e) => {
          sink.call(name, p.kind, 'success');
          sink.duration(name, 'success', e.duration / 1000);
        });
        listen(p, 'failed', (e) => {
          sink.call(name, p.kind, 'failure');
          sink.duration(name, 'failure', e.duration / 1000);
        });
        listen(p, 'rejected', () => sink.call(name, p.kind, 'rejected'));
        listen(p, 'ignored', () => sink.call(name, p.kind, 'ignored'));
        return;
      }
      case 'retry':
        listen(p, 'retried', () => sink.retried(p.name));
        listen(p, 'gaveUp', (e) => sink.gaveUp(p.name, e.reason));
        return;
      case 'timeout':
        listen(p, 'timedOut', () => sink.call(p.name, p.kind, 'timeout'));
        return;
      case 'fallback':
        listen(p, 'fellBack', (e) => sink.call(p.name, p.kind, e.stale ? 'stale_fallback' : 'fallback'));
        return;
      case 'bulkhead':
        bulkheads.push(p);
        listen(p, 'rejected', () => sink.call(p.name, p.kind, 'rejected'));
        return;
      case 'chaos':
        listen(p, 'injected', (e) => sink.injected(p.name, e.kind));
        return;
      default:
        throw new TypeError(`instrument: expected a breakwater policy or pipeline, got ${show(policy)}`);
    }
  }

  for (const t of Array.isArray(target) ? target : [target]) visit(t);
  return {
    bulkheads,
    breakers,
    dispose() {
      for (const remove of removers.splice(0)) remove();
    },
  };
}
