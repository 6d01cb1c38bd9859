import { EventEmitter } from 'eventemitter3';
import { ListenerError } from './errors.js';

/** One registration as eventemitter3 5 keeps it. */
interface Registration {
  readonly fn: (...args: unknown[]) => unknown;
  readonly context: unknown;
  readonly once: boolean;
}

/**
 * The event emitter of every breakwater policy: eventemitter3, except that a listener
 * that throws cannot reach the code that emitted. A call's outcome, a breaker's state
 * and the other listeners of the same event never depend on what a listener does; the
 * listener's error is reported as a process warning (a {@link ListenerError} whose
 * `cause` is what the listener threw), so it is neither lost nor fatal.
 */
export class Emitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  override emit<T extends EventEmitter.EventNames<Events>>(
    event: T,
    ...args: EventEmitter.EventArgs<Events, T>
  ): boolean;
  // Every breakwater event carries one payload object: no rest array, no `apply`, on a path metrics listen to.
  override emit(event: PropertyKey, payload?: unknown, ..._more: unknown[]): boolean {
    const registered = (this as unknown as { _events: Record<PropertyKey, unknown> })._events[event] as
      | Registration
      | Registration[]
      | undefined;
    if (registered === undefined) return false;
    if (!Array.isArray(registered)) {
      this.call(registered, event, payload);
      return true;
    }
    // A listener that removes itself, or another, while we run does not change this round (as in eventemitter3).
    for (const registration of registered) this.call(registration, event, payload);
    return true;
  }

  private call(registration: Registration, event: PropertyKey, payload: unknown): void {
    if (registration.once) {
      (this.removeListener as (e: PropertyKey, fn: unknown, c: unknown, once: boolean) => void)(
        event,
        registration.fn,
        undefined,
        true,
      );
    }
    try {
      registration.fn.call(registration.context, payload);
    } catch (error) {
      reportListenerError(this, event, error);
    }
  }
}

/** Reports a listener's error without throwing it into the code that emitted. */
export function reportListenerError(
  emitter: object,
  event: PropertyKey,
  error: unknown,
  callback?: string,
): void {
  const name = (emitter as { name?: unknown }).name;
  warn(new ListenerError(String(event), typeof name === 'string' ? name : undefined, error, callback));
}

/**
 * Reports a mistake that must not change a call's outcome (a listener or a user callback
 * that threw or answered nonsense) as a process warning: printed once by Node's default
 * handler, catchable with `process.on('warning', ...)`, never fatal.
 */
export function warn(error: Error): void {
  try {
    process.emitWarning(error);
  } catch {
    // emitWarning defers its listeners to the next tick; this guards runtimes without it.
  }
}
