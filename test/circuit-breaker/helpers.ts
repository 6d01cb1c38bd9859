import type { CircuitBreaker, CircuitBreakerEvents } from '../../src/circuit-breaker/index.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise settled from outside, to hold a call in flight. */
export function deferred<T = string>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

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
