import type { IncomingMessage, ServerResponse } from 'node:http';
import { BulkheadPolicy } from '../bulkhead/bulkhead.js';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { StateChangedEvent } from '../circuit-breaker/events.js';
import type { TransitionReason } from '../circuit-breaker/state.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { Emitter } from '../emitter.js';
import { BreakwaterError, TimeoutError } from '../errors.js';
import { LoadShedderPolicy } from '../shedder/shedder.js';
import * as v from '../validate.js';
import { FAILED_BODY, reportJson } from './http.js';

/** Healthy: all is well. Degraded: serving, with something non-essential impaired. Unhealthy: not serving. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/**
 * What a custom check may return: a status, a boolean (`false` means unhealthy), or nothing
 * (healthy). Anything else, an unknown status string included, counts as unhealthy.
 */
export type CheckResult =
  | HealthStatus
  | boolean
  | undefined
  | {
      /** The check's status. */
      status: HealthStatus;
      /** Anything worth showing in the report (a latency, a count); Errors are hidden over HTTP. */
      detail?: unknown;
    };

/** A custom check; it gets a signal that aborts when the check's timeout passes. */
export type HealthCheck = (signal: AbortSignal) => CheckResult | Promise<CheckResult>;

/**
 * What {@link HealthMonitor.register} reads from an adaptive concurrency limit (`adaptiveLimit`):
 * told apart by `kind`, so that any object of this shape can be watched.
 */
export interface AdaptiveLimitHealth {
  /** Always `'adaptive-limit'`. */
  readonly kind: 'adaptive-limit';
  /** Its name, the component's name by default. */
  readonly name: string;
  /** Calls allowed to run at once now. */
  readonly limit: number;
  /** The lowest the limit may go. */
  readonly minLimit: number;
  /** Calls running now. */
  readonly inFlight: number;
  /** Calls waiting now. */
  readonly queued: number;
  /** Calls that may wait (`Infinity` for no bound). */
  readonly maxQueue: number;
  /** Subscribes to its events; the monitor follows `limitChanged`. */
  on(event: 'limitChanged', listener: (event: { from: number; to: number }) => void): unknown;
  /** Unsubscribes. */
  off(event: 'limitChanged', listener: (event: { from: number; to: number }) => void): unknown;
}

/** One registered component in a {@link HealthReport}. */
export interface ComponentHealth {
  /** The name it was registered under: by default a breaker's or bulkhead's own name, or the check's. */
  readonly name: string;
  /** What it is: a watched breaker, bulkhead, load shedder or adaptive limit, or a custom check. */
  readonly kind: 'circuit-breaker' | 'bulkhead' | 'load-shedder' | 'adaptive-limit' | 'check';
  /** Whether it was registered as critical (see {@link RegisterOptions.critical}). */
  readonly critical: boolean;
  /**
   * Its own status, before criticality is weighed: a breaker is `healthy` when closed,
   * `degraded` when half-open, disabled or open and due for a probe, `unhealthy` when open
   * and not yet due, or isolated; a bulkhead is `degraded` when every slot and queue place is taken; a
   * load shedder is `degraded` while it sheds any priority and `unhealthy` while it sheds `high`
   * (only `critical` calls are served); an adaptive limit is `degraded` when it has no room left
   * (every slot and queue place taken) or sits at `minLimit` with calls waiting; a
   * check's is what it returned (`unhealthy` when it threw or timed out).
   */
  readonly status: HealthStatus;
  /**
   * The breaker's state, the bulkhead's load, the shedder's `{ pressure, shedding, readings }`,
   * the adaptive limit's `{ limit, minLimit, inFlight, queued, maxQueue }`, or what the check returned or threw. Over HTTP,
   * what a check threw is replaced by a generic reason and any Error by `"[error]"`.
   */
  readonly detail?: unknown;
  /** Open breakers: ms until the breaker admits a probe (0 when one is due); a shedder shedding `high`: its `retryAfter`. */
  readonly retryAfter?: number;
  /** Breakers only: the reason of the last state change the monitor saw (none before the first). */
  readonly reason?: TransitionReason;
}

/** The health of the whole service, from {@link HealthMonitor.check}. */
export interface HealthReport {
  /**
   * The whole: `unhealthy` if a critical component is unhealthy, else `degraded` if any
   * component is impaired, else `healthy`.
   */
  readonly status: HealthStatus;
  /** Every registered component, in registration order. */
  readonly components: readonly ComponentHealth[];
  /**
   * When unhealthy only because of open breakers: ms until every one of them admits a probe,
   * after which the whole is no longer unhealthy. Absent when that is not known.
   */
  readonly retryAfter?: number;
}

/** Options of {@link HealthMonitor.register}. */
export interface RegisterOptions {
  /**
   * Whether the service cannot serve without this component: a critical component that is
   * down makes the whole `unhealthy`; a non-critical one makes it `degraded`. A load shedder
   * watches the process itself, so it is critical unless you say otherwise.
   * @default false (true for a load shedder)
   */
  critical?: boolean;
  /** Overrides the component's name (a breaker's own name by default). */
  name?: string;
  /** For custom checks: ms before the check counts as failed. @default the monitor's checkTimeout */
  timeout?: number;
}

/** Options of {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  /**
   * ms a custom check may take before it counts as failed.
   * @default 5_000
   */
  checkTimeout?: number;
  /** Times check timeouts. @default systemClock */
  clock?: Clock;
}

/** Payload of the {@link HealthMonitorEvents.statusChanged | statusChanged} event. */
export interface StatusChangedEvent {
  /** The whole's status before the change. */
  readonly from: HealthStatus;
  /** The whole's status now. */
  readonly to: HealthStatus;
  /** The report that shows the change, with every component as it is now. */
  readonly report: HealthReport;
}

/** The events of a {@link HealthMonitor}, each with one payload object. */
export interface HealthMonitorEvents {
  /**
   * The whole's status changed: found by `check()` (or the HTTP handler), caused by
   * `register()` or `unregister()`, or at once when a registered breaker changed state, a
   * shedder started or stopped shedding a priority, or an adaptive limit moved, with no
   * `check()` needed. This is the alert: page on `to === 'unhealthy'`, warn on `'degraded'`
   * (the report's components say which one and why).
   */
  statusChanged: [StatusChangedEvent];
}

type Component =
  | {
      kind: 'circuit-breaker';
      name: string;
      critical: boolean;
      breaker: CircuitBreaker;
      reason: TransitionReason | undefined;
      unsubscribe: () => void;
    }
  | { kind: 'bulkhead'; name: string; critical: boolean; bulkhead: BulkheadPolicy }
  | {
      kind: 'load-shedder';
      name: string;
      critical: boolean;
      shedder: LoadShedderPolicy;
      unsubscribe: () => void;
    }
  | {
      kind: 'adaptive-limit';
      name: string;
      critical: boolean;
      limit: AdaptiveLimitHealth;
      unsubscribe: () => void;
    }
  | {
      kind: 'check';
      name: string;
      critical: boolean;
      check: HealthCheck;
      timeout: number;
      last: ComponentHealth;
      /** Runs started, and the number of the run whose result `last` holds: the latest started wins. */
      started: number;
      shown: number;
    };

type CheckComponent = Extract<Component, { kind: 'check' }>;

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** Own values only: `'constructor'` or `'__proto__'` must not pass for a status through the prototype. */
function isStatus(value: unknown): value is HealthStatus {
  return value === 'healthy' || value === 'degraded' || value === 'unhealthy';
}

/** A component's own status, before its criticality is applied. */
function breakerHealth(state: CircuitBreaker['state'], retryAfter: number): HealthStatus {
  switch (state) {
    case 'closed':
      return 'healthy';
    case 'half-open':
    case 'disabled':
      return 'degraded';
    case 'open':
      // Due for a probe: the next call decides. Unhealthy here would keep traffic away
      // (a load balancer drops a 503), so the breaker could never probe and recover.
      return retryAfter === 0 ? 'degraded' : 'unhealthy';
    case 'isolated':
      return 'unhealthy';
  }
}

/** How a component's status weighs on the whole: only a critical component can make it unhealthy. */
function weigh(component: ComponentHealth): HealthStatus {
  return component.status === 'unhealthy' && !component.critical ? 'degraded' : component.status;
}

/**
 * Reads what a check returned. Only `status` and `detail` are taken (each read once): a
 * result cannot rename its component or change whether it is critical.
 */
function normalize(result: unknown): { status: HealthStatus; detail?: unknown } | undefined {
  if (result === undefined || result === true) return { status: 'healthy' };
  if (result === false) return { status: 'unhealthy' };
  if (isStatus(result)) return { status: result };
  if (typeof result === 'object' && result !== null) {
    const { status, detail } = result as { status?: unknown; detail?: unknown };
    if (isStatus(status)) return detail === undefined ? { status } : { status, detail };
  }
  return undefined;
}

/** `v.show`, for values that may be hostile (a revoked Proxy throws on `Array.isArray`). */
function show(value: unknown): string {
  try {
    return v.show(value);
  } catch {
    return typeof value;
  }
}

/**
 * Reads an options object's own keys, each once: a getter that throws, or a Proxy whose traps
 * throw, is a TypeError naming the option; a getter cannot answer two reads differently; and a
 * polluted `Object.prototype` cannot lend an option.
 */
function readOptions<K extends string>(
  what: string,
  value: unknown,
  keys: readonly K[],
): Partial<Record<K, unknown>> {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`${what} must be an object, got ${show(value)}`);
  }
  let own: string[];
  let array: boolean;
  try {
    array = Array.isArray(value);
    own = Object.keys(value);
  } catch (error) {
    throw new TypeError(`${what} could not be read`, { cause: error });
  }
  if (array) throw new TypeError(`${what} must be an object, got an array`);
  const read: Partial<Record<K, unknown>> = {};
  for (const key of own) {
    if (!(keys as readonly string[]).includes(key)) {
      throw new TypeError(
        `${what}: unknown option ${JSON.stringify(key)}; known options are ${keys.join(', ')}`,
      );
    }
    try {
      read[key as K] = (value as Record<string, unknown>)[key];
    } catch (error) {
      throw new TypeError(`${what}: reading ${key} threw`, { cause: error });
    }
  }
  return read;
}

/**
 * Runs a validator from `validate.ts`, whose message shows the value with `v.show`: that throws
 * on a revoked Proxy, which is reported here instead, still naming the option.
 */
function valid<T>(name: string, value: unknown, check: (name: string, value: unknown) => T): T {
  try {
    return check(name, value);
  } catch (error) {
    if ((error instanceof TypeError || error instanceof RangeError) && error.message.startsWith(name)) {
      throw error;
    }
    throw new TypeError(`${name} is not valid, got ${show(value)}`, { cause: error });
  }
}

/** A check timeout: at least 1 ms, and finite. */
const ms = (name: string, value: unknown) => v.milliseconds(name, value, 1);

function validClock(value: unknown): Clock {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`clock must have now() and setTimeout(callback, ms), got ${show(value)}`);
  }
  let now: unknown;
  let setTimeout: unknown;
  try {
    now = (value as Clock).now;
    setTimeout = (value as Clock).setTimeout;
  } catch (error) {
    throw new TypeError('clock: reading now or setTimeout threw', { cause: error });
  }
  if (typeof now !== 'function' || typeof setTimeout !== 'function') {
    throw new TypeError(`clock must have now() and setTimeout(callback, ms), got ${show(value)}`);
  }
  return value as Clock;
}

type Kind = ComponentHealth['kind'];

/** Which kind of component `target` is; a Proxy whose traps throw is a TypeError, not a crash. */
function kindOf(target: unknown): Kind | undefined {
  if (typeof target === 'string') return 'check';
  try {
    if (target instanceof CircuitBreaker) return 'circuit-breaker';
    if (target instanceof BulkheadPolicy) return 'bulkhead';
    if (target instanceof LoadShedderPolicy) return 'load-shedder';
    if (isAdaptiveLimit(target)) return 'adaptive-limit';
  } catch (error) {
    throw new TypeError(`register: could not tell what ${show(target)} is`, { cause: error });
  }
  return undefined;
}

/** Structural: an adaptive limit of any copy of breakwater, read once per member. */
function isAdaptiveLimit(target: unknown): target is AdaptiveLimitHealth {
  if (typeof target !== 'object' || target === null) return false;
  const t = target as Partial<AdaptiveLimitHealth>;
  return t.kind === 'adaptive-limit' && typeof t.on === 'function' && typeof t.off === 'function';
}

/**
 * Reports the health of a service from its breakers, bulkheads, load shedders, adaptive
 * limits and custom checks, as
 * `healthy`, `degraded` or `unhealthy`, and serves it over HTTP.
 *
 * Rules: a critical component that is open, isolated or failing makes the whole
 * `unhealthy`; any other impaired component (a non-critical breaker open or half-open, a
 * full bulkhead, a failing non-critical check, a critical breaker half-open) makes it
 * `degraded`; a load shedder (critical unless registered otherwise) shedding `high` makes
 * it `unhealthy`, shedding anything else `degraded`. `statusChanged`, the alert, is emitted
 * on every change: when a check runs, and at once when a registered breaker changes state, a
 * shedder starts or stops shedding a priority, or an adaptive limit moves. A listener that throws is reported as a process
 * warning and never reaches the breaker call whose transition it heard.
 *
 * @example
 * ```ts
 * const health = new HealthMonitor();
 * health.register(ordersBreaker, { critical: true });
 * health.register(searchBreaker);
 * health.register('disk', async () => (await freeBytes()) > 1e9);
 * http.createServer(health.handler()).listen(8081);
 * ```
 */
export class HealthMonitor extends Emitter<HealthMonitorEvents> {
  private readonly components = new Map<string, Component>();
  private readonly clock: Clock;
  private readonly checkTimeout: number;
  /** What HTTP clients see instead of a component's detail: set for failed checks. */
  private readonly publicDetails = new WeakMap<ComponentHealth, unknown>();
  private last: HealthStatus = 'healthy';

  constructor(options?: HealthMonitorOptions) {
    super();
    const o =
      options === undefined ? {} : readOptions('HealthMonitor options', options, ['checkTimeout', 'clock']);
    this.checkTimeout = o.checkTimeout === undefined ? 5_000 : valid('checkTimeout', o.checkTimeout, ms);
    this.clock = o.clock === undefined ? systemClock : validClock(o.clock);
  }

  /** Watches a breaker, bulkhead, load shedder or adaptive limit, or runs a named custom check on every `check()`. */
  register(
    component: CircuitBreaker | BulkheadPolicy | LoadShedderPolicy | AdaptiveLimitHealth,
    options?: RegisterOptions,
  ): this;
  register(name: string, check: HealthCheck, options?: RegisterOptions): this;
  register(
    target: CircuitBreaker | BulkheadPolicy | LoadShedderPolicy | AdaptiveLimitHealth | string,
    checkOrOptions?: HealthCheck | RegisterOptions,
    maybeOptions?: RegisterOptions,
  ): this {
    // Everything is read and checked before anything changes: a registration that throws leaves no trace.
    const kind = kindOf(target);
    if (kind === undefined) {
      throw new TypeError(
        `register: expected a CircuitBreaker, a bulkhead, a load shedder, an adaptive limit or a name and a check, got ${show(target)}`,
      );
    }
    const rawOptions = kind === 'check' ? maybeOptions : checkOrOptions;
    const o =
      rawOptions === undefined
        ? {}
        : readOptions('register options', rawOptions, ['critical', 'name', 'timeout']);
    const critical = o.critical === undefined ? kind === 'load-shedder' : o.critical;
    if (typeof critical !== 'boolean')
      throw new TypeError(`critical must be a boolean, got ${show(critical)}`);
    let component: Component;
    if (kind === 'check') {
      const name = valid('name', o.name === undefined ? target : o.name, v.string);
      const check = valid('check', checkOrOptions, v.func<HealthCheck>);
      const timeout = o.timeout === undefined ? this.checkTimeout : valid('timeout', o.timeout, ms);
      const last: ComponentHealth = { name, kind, critical, status: 'healthy', detail: 'not run yet' };
      component = { kind, name, critical, check, timeout, last, started: 0, shown: 0 };
    } else {
      if (o.timeout !== undefined) {
        throw new TypeError(`timeout applies to custom checks only, got ${show(o.timeout)} for a ${kind}`);
      }
      let ownName = o.name;
      if (ownName === undefined) {
        try {
          ownName = (target as { name: unknown }).name;
        } catch (error) {
          throw new TypeError(`register: reading the ${kind}'s name threw`, { cause: error });
        }
      }
      const name = valid('name', ownName, v.string);
      const unsubscribe = () => {};
      switch (kind) {
        case 'circuit-breaker':
          component = {
            kind,
            name,
            critical,
            breaker: target as CircuitBreaker,
            reason: undefined,
            unsubscribe,
          };
          break;
        case 'bulkhead':
          component = { kind, name, critical, bulkhead: target as BulkheadPolicy };
          break;
        case 'load-shedder':
          component = { kind, name, critical, shedder: target as LoadShedderPolicy, unsubscribe };
          break;
        default:
          component = { kind, name, critical, limit: target as AdaptiveLimitHealth, unsubscribe };
      }
    }
    if (this.components.has(component.name)) {
      throw new TypeError(
        `register: a component named ${JSON.stringify(component.name)} is already registered`,
      );
    }
    this.watch(component);
    this.components.set(component.name, component);
    this.refresh();
    return this;
  }

  /** Stops watching a component; returns whether one had that name. */
  unregister(name: string): boolean {
    const component = this.components.get(name);
    if (component === undefined) return false;
    if ('unsubscribe' in component) component.unsubscribe();
    this.components.delete(name);
    this.refresh();
    return true;
  }

  /** The status as last known, without running custom checks. */
  get status(): HealthStatus {
    return this.last;
  }

  /**
   * Runs every custom check (each bounded by its timeout) and reports the whole. When runs
   * of one check overlap, the result of the run started last is kept, whichever ends last.
   */
  async check(): Promise<HealthReport> {
    await Promise.all(
      [...this.components.values()].map(async (c) => {
        if (c.kind !== 'check') return;
        const run = ++c.started;
        const result = await this.runCheck(c);
        if (run > c.shown) {
          c.shown = run;
          c.last = result;
        }
      }),
    );
    return this.refresh();
  }

  /**
   * A `node:http` request listener serving the report as JSON: 200 when healthy or
   * degraded, 503 when unhealthy, with `Retry-After` (seconds) when the report's
   * `retryAfter` is known. What a check threw is not sent (it may name internal hosts):
   * the body says `check failed` or `check timed out after N ms`; `check()` keeps the error.
   * A detail that JSON cannot hold is sent as `"[unserializable]"`. Mount it in Express
   * with `app.get('/health', health.handler())`.
   */
  handler(): (request: IncomingMessage, response: ServerResponse) => void {
    return (request, response) => {
      void this.respond(request, response);
    };
  }

  /** Stops watching every component, removing the listeners it put on breakers, and its own listeners. */
  dispose(): void {
    for (const c of this.components.values()) if ('unsubscribe' in c) c.unsubscribe();
    this.components.clear();
    this.removeAllListeners();
  }

  /** Same as {@link dispose}, for `using health = new HealthMonitor()`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Answers one request; never rejects, so a bad check or a closed socket cannot crash the process. */
  private async respond(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let code: number;
    let body: string;
    const headers: Record<string, string | number> = { 'cache-control': 'no-store' };
    try {
      const report = await this.check();
      body = reportJson(report, (c) => (this.publicDetails.has(c) ? this.publicDetails.get(c) : c.detail));
      code = report.status === 'unhealthy' ? 503 : 200;
      if (code === 503 && report.retryAfter !== undefined) {
        headers['retry-after'] = Math.ceil(report.retryAfter / 1000);
      }
    } catch (error) {
      warn('HealthMonitor could not build a health report', error);
      code = 500;
      body = FAILED_BODY;
    }
    try {
      response.writeHead(code, {
        ...headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      warn('HealthMonitor could not send a health report', error);
      response.destroy();
    }
  }

  /**
   * Follows what changes a component's status: a breaker's state (and the reason it moved), a
   * shedder's shed priorities, an adaptive limit's limit. Bulkheads and checks are read when asked.
   */
  private watch(component: Component): void {
    switch (component.kind) {
      case 'circuit-breaker': {
        const breaker = component.breaker;
        const onChange = (event: StateChangedEvent) => {
          component.reason = event.reason;
          this.refresh();
        };
        breaker.on('stateChanged', onChange);
        component.unsubscribe = () => breaker.off('stateChanged', onChange);
        return;
      }
      case 'load-shedder': {
        const shedder = component.shedder;
        const onChange = () => void this.refresh();
        shedder.on('sheddingChanged', onChange);
        component.unsubscribe = () => shedder.off('sheddingChanged', onChange);
        return;
      }
      case 'adaptive-limit': {
        const limit = component.limit;
        const onChange = () => void this.refresh();
        try {
          limit.on('limitChanged', onChange);
        } catch (error) {
          throw new TypeError('register: the adaptive limit could not be subscribed to', { cause: error });
        }
        component.unsubscribe = () => limit.off('limitChanged', onChange);
        return;
      }
    }
  }

  private async runCheck(c: CheckComponent): Promise<ComponentHealth> {
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    let timeout: TimeoutError | undefined;
    const base = { name: c.name, kind: 'check', critical: c.critical } as const;
    let health: ComponentHealth;
    let publicDetail: string | undefined;
    try {
      // In one executor, a clock or a check that throws synchronously is a failed check like any other.
      const result = await new Promise<unknown>((resolve, reject) => {
        timer = this.clock.setTimeout(() => {
          timeout = new TimeoutError(c.timeout);
          controller.abort(timeout);
          reject(timeout);
        }, c.timeout);
        Promise.resolve(c.check(controller.signal)).then(resolve, reject);
      });
      const normal = normalize(result);
      if (normal === undefined) {
        health = { ...base, status: 'unhealthy', detail: `check returned ${show(result)}` };
        publicDetail = 'check returned an invalid result';
      } else {
        health = { ...base, ...normal };
      }
    } catch (error) {
      health = { ...base, status: 'unhealthy', detail: error };
      publicDetail =
        timeout !== undefined && error === timeout ? `check timed out after ${c.timeout} ms` : 'check failed';
    } finally {
      try {
        timer?.clear();
      } catch (error) {
        warn(`HealthMonitor could not clear the timer of check "${c.name}"`, error);
      }
    }
    if (publicDetail !== undefined) this.publicDetails.set(health, publicDetail);
    return health;
  }

  /** Recomputes the whole from what is known now, emitting `statusChanged` if it moved. */
  private refresh(): HealthReport {
    const components: ComponentHealth[] = [];
    for (const c of this.components.values()) components.push(this.describe(c));
    let status: HealthStatus = 'healthy';
    for (const c of components) {
      const weight = weigh(c);
      if (RANK[weight] > RANK[status]) status = weight;
    }
    const retryAfter = status === 'unhealthy' ? recoveryIn(components) : undefined;
    const report: HealthReport =
      retryAfter === undefined ? { status, components } : { status, components, retryAfter };
    const from = this.last;
    this.last = status;
    if (from !== status && this.listenerCount('statusChanged') !== 0)
      this.emit('statusChanged', { from, to: status, report });
    return report;
  }

  /** A component as it is now; one that cannot be read (a hostile Proxy) counts as unhealthy. */
  private describe(c: Component): ComponentHealth {
    try {
      return describe(c);
    } catch (error) {
      const health: ComponentHealth = {
        name: c.name,
        kind: c.kind,
        critical: c.critical,
        status: 'unhealthy',
        detail: error,
      };
      this.publicDetails.set(health, `${c.kind} could not be read`);
      return health;
    }
  }
}

function describe(c: Component): ComponentHealth {
  switch (c.kind) {
    case 'check':
      return c.last;
    case 'circuit-breaker': {
      const state = c.breaker.state;
      const retryAfter = c.breaker.retryAfter;
      const health: { -readonly [K in keyof ComponentHealth]: ComponentHealth[K] } = {
        name: c.name,
        kind: c.kind,
        critical: c.critical,
        status: breakerHealth(state, retryAfter),
        detail: state,
      };
      if (state === 'open') health.retryAfter = retryAfter;
      if (c.reason !== undefined) health.reason = c.reason;
      return health;
    }
    case 'load-shedder': {
      const s = c.shedder;
      const shedding = s.shedding;
      const status: HealthStatus = s.isShedding('high')
        ? 'unhealthy'
        : shedding.length > 0
          ? 'degraded'
          : 'healthy';
      const health: ComponentHealth = {
        name: c.name,
        kind: c.kind,
        critical: c.critical,
        status,
        detail: { pressure: s.pressure, shedding, readings: s.readings },
      };
      return status === 'unhealthy' ? { ...health, retryAfter: s.retryAfter } : health;
    }
    case 'adaptive-limit': {
      const a = c.limit;
      const limit = a.limit;
      const minLimit = a.minLimit;
      const inFlight = a.inFlight;
      const queued = a.queued;
      const maxQueue = a.maxQueue;
      const full = inFlight >= limit && queued >= maxQueue;
      const floored = limit <= minLimit && queued > 0;
      return {
        name: c.name,
        kind: c.kind,
        critical: c.critical,
        status: full || floored ? 'degraded' : 'healthy',
        detail: { limit, minLimit, inFlight, queued, maxQueue },
      };
    }
    case 'bulkhead': {
      const b = c.bulkhead;
      const full = b.inFlight >= b.maxConcurrent && b.queued >= b.maxQueue;
      return {
        name: c.name,
        kind: c.kind,
        critical: c.critical,
        status: full ? 'degraded' : 'healthy',
        detail: {
          inFlight: b.inFlight,
          queued: b.queued,
          maxConcurrent: b.maxConcurrent,
          maxQueue: b.maxQueue,
        },
      };
    }
  }
}

/**
 * ms until an unhealthy whole may stop being unhealthy, when only open breakers (each becomes
 * degraded once due for a probe) and shedders (they sample again after `retryAfter`) make it so.
 * Unknown (undefined) if a check or an isolated breaker is to blame.
 */
function recoveryIn(components: readonly ComponentHealth[]): number | undefined {
  let longest = 0;
  for (const c of components) {
    if (weigh(c) !== 'unhealthy') continue;
    if ((c.kind !== 'circuit-breaker' && c.kind !== 'load-shedder') || c.retryAfter === undefined)
      return undefined;
    longest = Math.max(longest, c.retryAfter);
  }
  return longest;
}

/** Reports what a caller cannot be told (an HTTP client, a timer) without throwing. */
function warn(message: string, cause: unknown): void {
  try {
    process.emitWarning(new BreakwaterError(message, { cause }));
  } catch {
    // Nowhere left to report it.
  }
}
