import type { CircuitBreaker, CircuitBreakerEvents } from '../../src/circuit-breaker/index.js';

export { type Deferred, deferred } from '../helpers/promises.js';

export type RecordedEvent = {
  [K in keyof CircuitBreakerEvents]: { readonly type: K; readonly payload: CircuitBreakerEvents[K][0] };
}[keyof CircuitBreakerEvents];

const EVENT_NAMES: readonly (keyof CircuitBreakerEvents)[] = [
  'stateChanged',
  'succeeded',
  'failed',
  'rejected',
  'ignored',
];

/** Records every event of `breaker`, in order, with its payload. */
export function recordEvents(breaker: CircuitBreaker): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const type of EVENT_NAMES) {
    breaker.on(type, (payload: RecordedEvent['payload']) => {
      events.push({ type, payload } as RecordedEvent);
    });
  }
  return events;
}

/** Every `stateChanged` payload recorded so far, as `from>to:reason` strings. */
export function transitions(events: readonly RecordedEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.type === 'stateChanged') out.push(`${e.payload.from}>${e.payload.to}:${e.payload.reason}`);
  }
  return out;
}
