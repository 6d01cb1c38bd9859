import { setMaxListeners } from 'node:events';

/** What a policy hands to the function it runs. */
export interface ExecuteContext {
  /** Aborted when the caller, or a policy around this call (a timeout), gives up on it. */
  readonly signal: AbortSignal;
  /** 0 for the first attempt; set by `retry` for each retry. */
  readonly attempt: number;
}

/** Per-call options of `execute`. */
export interface ExecuteOptions {
  /** The caller's signal: a call aborted before it starts is not run; an abort is never counted as a failure. */
  readonly signal?: AbortSignal;
}

/** The function a policy runs. */
export type Operation<T> = (context: ExecuteContext) => PromiseLike<T> | T;

/** Anything that runs a function under some rule: every policy, the circuit breaker and `pipeline`. */
export interface Policy {
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T>;
}

/**
 * The context object passed between policies. A policy that changes nothing (the
 * breaker) passes its parent's context on as it is, so a call costs no allocation there.
 */
export class CallContext implements ExecuteContext {
  constructor(
    readonly signal: AbortSignal,
    readonly attempt: number,
  ) {}
}

/**
 * The signal of a call whose caller gave none. Nothing can abort it, so one instance
 * serves every such call; it allows any number of listeners so that concurrent calls
 * whose functions listen on it never trigger `MaxListenersExceededWarning`.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;
setMaxListeners(0, NEVER_ABORTED);

const ROOT = new CallContext(NEVER_ABORTED, 0);

/** The context for a call, reusing the parent's when a policy passed one in. */
export function contextOf(options: ExecuteOptions | undefined): ExecuteContext {
  if (options === undefined) return ROOT;
  if (options instanceof CallContext) return options;
  return options.signal === undefined ? ROOT : new CallContext(options.signal, 0);
}
