import { warn } from '../emitter.js';
import type { Priority } from '../policy.js';
import { show } from '../validate.js';

/** What a gate can be told to call back on, eventemitter-style (every breakwater policy has these). */
interface Observable {
  /** Adds a listener for `event`. */
  on?(event: string, listener: () => void): unknown;
  /** Removes a listener added with `on`. */
  off?(event: string, listener: () => void): unknown;
}

/**
 * A circuit breaker as a gate: read through its public `state` and `retryAfter`, and
 * watched through its `stateChanged` event. A `CircuitBreaker` is one.
 */
export interface BreakerGate extends Observable {
  /** `closed`, `open`, `half-open`, `isolated` or `disabled`. */
  readonly state: string;
  /** ms until an open circuit admits a probe. */
  readonly retryAfter: number;
}

/**
 * A load shedder as a gate: closed while it sheds `background` work; watched through its
 * `pressureChanged` event and asked again every `gateInterval` while closed.
 */
export interface ShedderGate extends Observable {
  /** Whether calls of `priority` are refused now. */
  isShedding(priority: Priority): boolean;
}

/**
 * A concurrency limit as a gate (an `adaptiveLimit`): closed while `inFlight >= limit`, and
 * otherwise lets the queue start at most `limit - inFlight` jobs at once. Watched through its
 * `limitChanged` event, and asked again every `gateInterval` while closed.
 */
export interface LimitGate extends Observable {
  /** Calls allowed at once now. */
  readonly limit: number;
  /** Calls running now. */
  readonly inFlight: number;
}

/**
 * What decides whether a {@link DeferredQueue} may take work from its store now: a
 * `CircuitBreaker`, a `loadShedder`, an `adaptiveLimit`, or a function that answers true
 * while work may run (asked again every `gateInterval` while it answers false).
 */
export type Gate = BreakerGate | ShedderGate | LimitGate | (() => boolean);

/**
 * A gate's answer: how many jobs may start now (0: none until a running one settles), or
 * `closed` with the ms after which to ask again (`Infinity`: only on the gate's event).
 */
export type GateReading = number | { readonly closedFor: number };

/** A gate reduced to one question and the event that says the answer may have changed. */
export interface GateAdapter {
  read(running: number): GateReading;
  readonly event: string | undefined;
  readonly source: Observable | undefined;
}

const OPEN: GateReading = Number.POSITIVE_INFINITY;

/** Recognises a gate by its documented members, so that no gate's module is imported here. */
export function adaptGate(gate: unknown, interval: number): GateAdapter {
  if (typeof gate === 'function') {
    const fn = gate as () => unknown;
    return {
      read: () => (ask(fn, 'gate') ? OPEN : { closedFor: interval }),
      event: undefined,
      source: undefined,
    };
  }
  if (typeof gate === 'object' && gate !== null) {
    const g = gate as Record<string, unknown>;
    if (typeof g.isShedding === 'function') {
      const shedder = gate as ShedderGate;
      return {
        read: () =>
          ask(() => !shedder.isShedding('background'), 'gate.isShedding') ? OPEN : { closedFor: interval },
        event: 'pressureChanged',
        source: shedder,
      };
    }
    if (typeof g.retryAfter === 'number' && typeof g.state === 'string') {
      const breaker = gate as BreakerGate;
      return { read: (running) => readBreaker(breaker, running), event: 'stateChanged', source: breaker };
    }
    if (typeof g.limit === 'number' && typeof g.inFlight === 'number') {
      const limit = gate as LimitGate;
      return {
        read: () => {
          const room = limit.limit - limit.inFlight;
          return room > 0 ? room : { closedFor: interval };
        },
        event: 'limitChanged',
        source: limit,
      };
    }
  }
  throw new TypeError(
    `gate must be a CircuitBreaker, a loadShedder, an adaptiveLimit or a function () => boolean, got ${show(gate)}`,
  );
}

/**
 * Closed while the circuit is open and not yet due, or isolated. Once due (or half-open) one
 * job at a time runs, as the probe: the handler's call through the breaker moves it on.
 */
function readBreaker(breaker: BreakerGate, running: number): GateReading {
  switch (breaker.state) {
    case 'open': {
      const wait = breaker.retryAfter;
      if (wait > 0) return { closedFor: wait };
      return running === 0 ? 1 : 0;
    }
    case 'half-open':
      return running === 0 ? 1 : 0;
    case 'isolated':
      return { closedFor: Number.POSITIVE_INFINITY };
    default:
      return OPEN;
  }
}

/** A gate that throws is reported and read as closed: work waits rather than runs against a broken check. */
function ask(fn: () => unknown, what: string): boolean {
  try {
    return fn() === true;
  } catch (error) {
    warn(new TypeError(`${what} threw; the queue reads it as closed`, { cause: error }));
    return false;
  }
}
