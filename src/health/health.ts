import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventEmitter } from 'eventemitter3';
import { BulkheadPolicy } from '../bulkhead/bulkhead.js';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { TimeoutError } from '../errors.js';
import * as v from '../validate.js';

/** Healthy: all is well. Degraded: serving, with something non-essential impaired. Unhealthy: not serving. */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What a custom check may return: a status, a boolean (`false` means unhealthy), or nothing (healthy). */
export type CheckResult = HealthStatus | boolean | undefined | { status: HealthStatus; detail?: unknown };

/** A custom check; it gets a signal that aborts when the check's timeout passes. */
export type HealthCheck = (signal: AbortSignal) => CheckResult | Promise<CheckResult>;

export interface ComponentHealth {
  readonly name: string;
  readonly kind: 'circuit-breaker' | 'bulkhead' | 'check';
  readonly critical: boolean;
  readonly status: HealthStatus;
  /** The breaker's state, the bulkhead's load, or what the check returned or threw. */
  readonly detail?: unknown;
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly components: readonly ComponentHealth[];
}

export interface RegisterOptions {
  /**
   * Whether the service cannot serve without this component: a critical component that is
   * down makes the whole `unhealthy`; a non-critical one makes it `degraded`.
   * @default false
   */
  critical?: boolean;
  /** Overrides the component's name (a breaker's own name by default). */
  name?: string;
  /** For custom checks: ms before the check counts as failed. @default the monitor's checkTimeout */
  timeout?: number;
}

export interface HealthMonitorOptions {
  /**
   * ms a custom check may take before it counts as failed.
   * @default 5_000
   */
  checkTimeout?: number;
  /** Times check timeouts. @default systemClock */
  clock?: Clock;
}

export interface StatusChangedEvent {
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  readonly report: HealthReport;
}

export interface HealthMonitorEvents {
  statusChanged: [StatusChangedEvent];
}

type Component =
  | {
      kind: 'circuit-breaker';
      name: string;
      critical: boolean;
      breaker: CircuitBreaker;
      unsubscribe: () => void;
    }
  | { kind: 'bulkhead'; name: string; critical: boolean; bulkhead: BulkheadPolicy }
  | {
      kind: 'check';
      name: string;
      critical: boolean;
      check: HealthCheck;
      timeout: number;
      last: ComponentHealth;
    };

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

/** A component's own status, before its criticality is applied. */
function breakerHealth(breaker: CircuitBreaker): HealthStatus {
  switch (breaker.state) {
    case 'closed':
      return 'healthy';
    case 'half-open':
    case 'disabled':
      return 'degraded';
    case 'open':
      // Due for a probe: the next call decides. Unhealthy here would keep traffic away
      // (a load balancer drops a 503), so the breaker could never probe and recover.
      return breaker.retryAfter === 0 ? 'degraded' : 'unhealthy';
    case 'isolated':
      return 'unhealthy';
  }
}

/** How a component's status weighs on the whole: only a critical component can make it unhealthy. */
function weigh(component: ComponentHealth): HealthStatus {
  return component.status === 'unhealthy' && !component.critical ? 'degraded' : component.status;
}

function normalize(result: CheckResult): { status: HealthStatus; detail?: unknown } {
  if (result === undefined || result === true) return { status: 'healthy' };
  if (result === false) return { status: 'unhealthy' };
  if (typeof result === 'string' && result in RANK) return { status: result };
  if (typeof result === 'object' && result !== null && result.status in RANK) return result;
  return { status: 'unhealthy', detail: `check returned ${v.show(result)}` };
}

/**
 * Reports the health of a service from its breakers, bulkheads and custom checks, as
 * `healthy`, `degraded` or `unhealthy`, and serves it over HTTP.
 *
 * Rules: a critical component that is open, isolated or failing makes the whole
 * `unhealthy`; any other impaired component (a non-critical breaker open or half-open, a
 * full bulkhead, a failing non-critical check, a critical breaker half-open) makes it
 * `degraded`. `statusChanged` is emitted on every change: when a check runs, and at once
 * when a registered breaker changes state.
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
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  private readonly components = new Map<string, Component>();
  private readonly clock: Clock;
  private readonly checkTimeout: number;
  private last: HealthStatus = 'healthy';

  constructor(options: HealthMonitorOptions = {}) {
    super();
    v.knownKeys('HealthMonitor', v.object('HealthMonitor options', options), ['checkTimeout', 'clock']);
    this.checkTimeout =
      options.checkTimeout === undefined ? 5_000 : v.milliseconds('checkTimeout', options.checkTimeout, 1);
    this.clock = options.clock === undefined ? systemClock : v.clock('clock', options.clock);
  }

  /** Watches a breaker or a bulkhead, or runs a named custom check on every `check()`. */
  register(component: CircuitBreaker | BulkheadPolicy, options?: RegisterOptions): this;
  register(name: string, check: HealthCheck, options?: RegisterOptions): this;
  register(
    target: CircuitBreaker | BulkheadPolicy | string,
    checkOrOptions?: HealthCheck | RegisterOptions,
    maybeOptions?: RegisterOptions,
  ): this {
    const isCheck = typeof target === 'string';
    const options = (isCheck ? maybeOptions : (checkOrOptions as RegisterOptions | undefined)) ?? {};
    v.knownKeys('register', v.object('register options', options), ['critical', 'name', 'timeout']);
    const critical = options.critical ?? false;
    if (typeof critical !== 'boolean')
      throw new TypeError(`critical must be a boolean, got ${v.show(critical)}`);
    let component: Component;
    if (isCheck) {
      const name = v.string('name', options.name ?? target);
      const check = v.func<HealthCheck>('check', checkOrOptions);
      const timeout =
        options.timeout === undefined ? this.checkTimeout : v.milliseconds('timeout', options.timeout, 1);
      const last: ComponentHealth = {
        name,
        kind: 'check',
        critical,
        status: 'healthy',
        detail: 'not run yet',
      };
      component = { kind: 'check', name, critical, check, timeout, last };
    } else if (target instanceof CircuitBreaker) {
      const name = v.string('name', options.name ?? target.name);
      const onChange = () => this.refresh();
      target.on('stateChanged', onChange);
      component = {
        kind: 'circuit-breaker',
        name,
        critical,
        breaker: target,
        unsubscribe: () => target.off('stateChanged', onChange),
      };
    } else if (target instanceof BulkheadPolicy) {
      component = {
        kind: 'bulkhead',
        name: v.string('name', options.name ?? target.name),
        critical,
        bulkhead: target,
      };
    } else {
      throw new TypeError(
        `register: expected a CircuitBreaker, a bulkhead or a name and a check, got ${v.show(target)}`,
      );
    }
    if (this.components.has(component.name)) {
      throw new TypeError(
        `register: a component named ${JSON.stringify(component.name)} is already registered`,
      );
    }
    this.components.set(component.name, component);
    this.refresh();
    return this;
  }

  /** Stops watching a component; returns whether one had that name. */
  unregister(name: string): boolean {
    const component = this.components.get(name);
    if (component === undefined) return false;
    if (component.kind === 'circuit-breaker') component.unsubscribe();
    this.components.delete(name);
    this.refresh();
    return true;
  }

  /** The status as last known, without running custom checks. */
  get status(): HealthStatus {
    return this.last;
  }

  /** Runs every custom check (each bounded by its timeout) and reports the whole. */
  async check(): Promise<HealthReport> {
    await Promise.all(
      [...this.components.values()].map(async (c) => {
        if (c.kind === 'check') c.last = await this.runCheck(c);
      }),
    );
    return this.refresh();
  }

  /**
   * A `node:http` request listener serving the report as JSON: 200 when healthy or
   * degraded, 503 when unhealthy. Mount it in Express with `app.get('/health', health.handler())`.
   */
  handler(): (request: IncomingMessage, response: ServerResponse) => void {
    return (request, response) => {
      this.check().then(
        (report) => {
          const body = JSON.stringify(report, (_key, value) =>
            value instanceof Error ? value.message : value,
          );
          response.writeHead(report.status === 'unhealthy' ? 503 : 200, {
            'content-type': 'application/json; charset=utf-8',
            'cache-control': 'no-store',
            'content-length': Buffer.byteLength(body),
          });
          response.end(request.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          response.end(`health check failed: ${String(error)}`);
        },
      );
    };
  }

  /** Stops watching every component. */
  dispose(): void {
    for (const c of this.components.values()) if (c.kind === 'circuit-breaker') c.unsubscribe();
    this.components.clear();
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private async runCheck(c: Extract<Component, { kind: 'check' }>): Promise<ComponentHealth> {
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(() => {
        const error = new TimeoutError(c.timeout);
        controller.abort(error);
        reject(error);
      }, c.timeout);
    });
    try {
      const result = normalize(await Promise.race([c.check(controller.signal), timedOut]));
      return { name: c.name, kind: 'check', critical: c.critical, ...result };
    } catch (error) {
      return { name: c.name, kind: 'check', critical: c.critical, status: 'unhealthy', detail: error };
    } finally {
      timer?.clear();
    }
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
    const report: HealthReport = { status, components };
    const from = this.last;
    this.last = status;
    if (from !== status && this.listenerCount('statusChanged') !== 0)
      this.emit('statusChanged', { from, to: status, report });
    return report;
  }

  private describe(c: Component): ComponentHealth {
    switch (c.kind) {
      case 'check':
        return c.last;
      case 'circuit-breaker':
        return {
          name: c.name,
          kind: c.kind,
          critical: c.critical,
          status: breakerHealth(c.breaker),
          detail: c.breaker.state,
        };
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
}
