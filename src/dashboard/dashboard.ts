import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CircuitBreaker } from '../circuit-breaker/circuit-breaker.js';
import type { CircuitState } from '../circuit-breaker/state.js';
import { type Clock, systemClock } from '../clock.js';
import { flagOf } from '../config/flag.js';
import type { HealthMonitor, HealthReport, HealthStatus } from '../health/health.js';
import * as v from '../validate.js';
import { renderPage, scriptJson } from './page.js';
import {
  describeLimit,
  describeQueue,
  describeShedder,
  findSources,
  type LimitView,
  type QueueView,
  type ShedderView,
  type SwitchLike,
} from './sources.js';
import { type BreakerFigures, BreakerStats } from './stats.js';

/** Options of {@link dashboard}. */
export interface DashboardOptions {
  /**
   * What to show: policies, pipelines (walked to any depth), and arrays, Maps or plain objects
   * of them, such as what `createPolicies` returns. Breakers, bulkheads, chaos injections and
   * flags (`Flag`) are recognised by `kind`; adaptive limits (`inFlight`, `limit`, `queued`),
   * load shedders (`pressure`, `overloaded`) and deferred queues (`depth`, `deadLetters`) by
   * those members. Retries, timeouts and fallbacks have nothing to show and are skipped.
   * @default none
   */
  policies?: object;
  /** A health monitor whose status and components the page shows. @default none */
  health?: HealthMonitor;
  /** The page's heading and title. @default 'breakwater' */
  title?: string;
  /**
   * The path the dashboard is served under, when the handler sees full paths (plain
   * `node:http`, Fastify). Under Express's `app.use('/dashboard', handler)` it may be left
   * out: the handler also routes on the path Express hands it.
   * @default ''
   * @example
   * ```ts
   * basePath: '/ops/dashboard'
   * ```
   */
  basePath?: string;
  /**
   * Turns on the controls (isolate, reset and disable a breaker; switch a flag), each a POST
   * carrying `token` in the `x-breakwater-token` header; any other request to them gets a 403.
   * Anyone holding the token can stop traffic to a dependency: serve the dashboard on an
   * internal port, over TLS, and keep the token secret (at least 16 characters).
   * @default none: the page is read-only
   */
  controls?: DashboardControls;
  /**
   * How often (ms) watching pages get an update. The timer runs only while a page is connected, unref'd.
   * @default 1_000
   */
  interval?: number;
  /**
   * The longest (ms) a stream stays silent: past it, a comment line keeps proxies from closing it.
   * @default 15_000
   */
  heartbeat?: number;
  /**
   * How often (ms) the health monitor's checks run while a page watches (and when a breaker moves).
   * @default 5_000
   */
  healthInterval?: number;
  /**
   * Pages that may watch at once; one more gets a 503.
   * @default 16
   */
  maxClients?: number;
  /**
   * Times the figures (calls per second, the chart) and the page's clock.
   * @default systemClock
   */
  clock?: Clock;
}

/** One breaker as the page shows it. */
export interface BreakerView extends BreakerFigures {
  /** The breaker's name. */
  readonly name: string;
  /** Its state now. */
  readonly state: CircuitState;
  /** ms until an open breaker admits a probe (0 unless open); `null` when isolated (never). */
  readonly retryAfter: number | null;
}

/** A flag (`Flag` of the main entry) as the page shows it. */
export interface SwitchView {
  /** The flag's name. */
  readonly name: string;
  /** Whether it is on. */
  readonly enabled: boolean;
  /** The chaos injections it switches (recorded with `Flag.controls`). */
  readonly chaos: string[];
}

/** A chaos injection as the page shows it. */
export interface ChaosView {
  /** The injection's name. */
  readonly name: string;
  /** The flag that switches it, or `null`: a chaos policy's own `enabled` cannot be switched from outside. */
  readonly flag: string | null;
}

/** One health component as the page shows it (a check's detail is never sent: it may name internal hosts). */
export interface ComponentView {
  /** The component's name. */
  readonly name: string;
  /** `circuit-breaker`, `bulkhead` or `check`. */
  readonly kind: string;
  /** Whether it was registered as critical. */
  readonly critical: boolean;
  /** Its own status. */
  readonly status: HealthStatus;
  /** Breakers: why it last changed state, or `null`. */
  readonly reason: string | null;
}

/** The health monitor as the page shows it. */
export interface HealthView {
  /** The whole's status. */
  readonly status: HealthStatus;
  /** Every component, in registration order. */
  readonly components: readonly ComponentView[];
}

/** Everything the page shows, as sent on the event stream (and by `GET state`). */
export interface DashboardView {
  /** The page's title. */
  readonly title: string;
  /** The dashboard clock's time. */
  readonly now: number;
  /** Whether the controls are on. */
  readonly controls: boolean;
  /** Every breaker found. */
  readonly breakers: readonly BreakerView[];
  /** Every bulkhead, adaptive limit and rate limit found. */
  readonly limits: readonly LimitView[];
  /** Every load shedder found. */
  readonly shedders: readonly ShedderView[];
  /** Every deferred queue found, as its last `stats()` answered. */
  readonly queues: readonly QueueView[];
  /** Every flag found. */
  readonly switches: readonly SwitchView[];
  /** Every chaos injection found. */
  readonly chaos: readonly ChaosView[];
  /** The health monitor's report, or `null` without one. */
  readonly health: HealthView | null;
}

/** The request handler {@link dashboard} returns, with what it holds. */
export interface DashboardHandler {
  /** Serves one request: the page, its event stream, its JSON state or a control; anything else goes to `next` (or a 404). */
  (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): void;
  /** Pages connected to the event stream now. */
  readonly clients: number;
  /** Whether the update timer is running (only while a page is connected). */
  readonly watching: boolean;
  /** What the page shows now. */
  view(): DashboardView;
  /** Ends every event stream and removes the listeners the dashboard put on policies. */
  close(): void;
  /** Same as {@link DashboardHandler.close}. */
  [Symbol.dispose](): void;
}

/** Options of the dashboard's controls. */
export interface DashboardControls {
  /** The secret a control request carries in its `x-breakwater-token` header: at least 16 characters. */
  token: string;
}

/** A connected page. */
interface Client {
  readonly response: ServerResponse;
  /** Waiting for `drain`: updates are skipped meanwhile (the newest is sent once it drains). */
  blocked: boolean;
  lastWrite: number;
  lastSent: string;
}

/** A stream whose unsent data passes this is too slow to follow, and is closed. */
const MAX_BUFFERED = 256 * 1024;
const TOKEN_HEADER = 'x-breakwater-token';
const KEYS = [
  'policies',
  'health',
  'title',
  'basePath',
  'controls',
  'interval',
  'heartbeat',
  'healthInterval',
  'maxClients',
  'clock',
];

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function validBasePath(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || !/^(\/[^/?#]+)*$/.test(value)) {
    throw new TypeError(
      `basePath must be "" or a path like "/dashboard" (no trailing slash, query or fragment), got ${v.show(value)}`,
    );
  }
  return value;
}

function validControls(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  const c = v.object('controls', value);
  v.knownKeys('controls', c, ['token']);
  if (typeof c.token !== 'string')
    throw new TypeError(`controls.token must be a string, got ${v.show(c.token)}`);
  if (c.token.length < 16) {
    throw new RangeError(`controls.token must be at least 16 characters, got ${c.token.length}`);
  }
  return digest(c.token);
}

function validHealth(value: unknown): HealthMonitor | undefined {
  if (value === undefined) return undefined;
  const h = value as Partial<HealthMonitor>;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof h.check !== 'function' ||
    typeof h.on !== 'function' ||
    typeof h.off !== 'function'
  ) {
    throw new TypeError(`health must be a HealthMonitor, got ${v.show(value)}`);
  }
  return value as HealthMonitor;
}

function healthView(report: HealthReport): HealthView {
  return {
    status: report.status,
    components: report.components.map((c) => ({
      name: c.name,
      kind: c.kind,
      critical: c.critical,
      status: c.status,
      reason: c.reason ?? null,
    })),
  };
}

/** The path part of a URL, or undefined. */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function json(
  response: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(code, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/**
 * A live dashboard of breakers, bulkheads, limits, load shedders, deferred queues, switches
 * and health, as a `node:http` request handler: one self-contained page (no CDN, no external
 * font or script; about 10 KB) updated over one Server-Sent Events stream.
 *
 * Routes, under `basePath`: `GET /` the page, `GET /events` the stream, `GET /state` the same
 * data as JSON, and with `controls`, `POST /breakers/:name/(isolate|reset|disable)` and
 * `POST /flags/:name/(on|off)` carrying the token in the `x-breakwater-token` header.
 *
 * The update timer runs only while a page is connected (and is unref'd); a page that goes
 * away is dropped at once, and one that reads too slowly (256 KB unsent) is cut off.
 * Figures (calls/s, failure rate, p99, the chart) come from the breakers' events, counted
 * from the moment the dashboard is made; {@link DashboardHandler.close} removes its listeners.
 *
 * @example
 * ```ts
 * const app = express();
 * app.use('/dashboard', dashboard({ policies: [ordersPolicy], health, controls: { token: process.env.DASHBOARD_TOKEN! } }));
 * ```
 */
export function dashboard(options: DashboardOptions = {}): DashboardHandler {
  const o = v.object('dashboard options', options);
  v.knownKeys('dashboard', o, KEYS);
  const title = o.title === undefined ? 'breakwater' : v.string('title', o.title);
  const basePath = validBasePath(o.basePath);
  const token = validControls(o.controls);
  const interval = o.interval === undefined ? 1_000 : v.milliseconds('interval', o.interval, 10, v.MAX_TIMER);
  const heartbeat =
    o.heartbeat === undefined ? 15_000 : v.milliseconds('heartbeat', o.heartbeat, 10, v.MAX_TIMER);
  const healthInterval =
    o.healthInterval === undefined
      ? 5_000
      : v.milliseconds('healthInterval', o.healthInterval, 0, v.MAX_TIMER);
  const maxClients = o.maxClients === undefined ? 16 : v.integer('maxClients', o.maxClients, 1);
  const clock = o.clock === undefined ? systemClock : v.clock('clock', o.clock);
  const health = validHealth(o.health);
  const found = findSources(o.policies ?? []);

  const stats = found.breakers.map((b) => new BreakerStats(b, clock));
  const breakers = new Map<string, CircuitBreaker>(found.breakers.map((b) => [b.name, b]));
  const switches = new Map<string, SwitchLike>(found.switches.map((s) => [s.name, s]));
  const clients = new Set<Client>();
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Immediate | undefined;
  let report: HealthReport | undefined;
  let checking: Promise<void> | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let closed = false;

  /** Runs the health checks (one run at a time); `push` sends the result to the pages at once. */
  const refreshHealth = (push: boolean): Promise<void> => {
    if (health === undefined) return Promise.resolve();
    if (checking === undefined) {
      checkedAt = clock.now();
      checking = health
        .check()
        .then(
          (r) => {
            report = r;
          },
          () => {}, // check() reports a failing check in the report; it rejects only on a bug: keep the last report
        )
        .finally(() => {
          checking = undefined;
        });
    }
    return push ? checking.then(schedule) : checking;
  };

  /** Asks every deferred queue for its stats (one round at a time); shown from the next update. */
  const queueStats = new Map<object, unknown>();
  let reading: Promise<void> | undefined;
  const refreshQueues = (): Promise<void> => {
    if (found.queues.length === 0) return Promise.resolve();
    reading ??= Promise.all(
      found.queues.map(async (q) => {
        try {
          queueStats.set(q, await q.stats());
        } catch {
          // A store that cannot answer now: the last stats stay on the page.
        }
      }),
    ).then(() => {
      reading = undefined;
    });
    return reading;
  };

  const onMove = () => {
    if (clients.size === 0) return;
    void refreshHealth(true);
    schedule();
  };
  const onStatus = (e: { report: HealthReport }) => {
    report = e.report;
    schedule();
  };
  for (const b of found.breakers) b.on('stateChanged', onMove);
  health?.on('statusChanged', onStatus);
  const flagListeners = found.switches.map((s) => {
    const listener = () => schedule();
    const emitter = s as unknown as { on?: unknown; off?: (e: string, f: () => void) => void };
    if (typeof emitter.on === 'function')
      (emitter.on as (e: string, f: () => void) => void).call(s, 'changed', listener);
    return () => emitter.off?.call(s, 'changed', listener);
  });

  const view = (): DashboardView => {
    const chaosBy = new Map<string, string[]>();
    const chaos = found.chaos.map((c) => {
      const f = flagOf(c);
      if (f !== undefined) chaosBy.set(f.name, [...(chaosBy.get(f.name) ?? []), c.name]);
      return { name: c.name, flag: f?.name ?? null };
    });
    return {
      title,
      now: clock.now(),
      controls: token !== undefined,
      breakers: stats.map((s) => {
        const b = s.breaker;
        const retryAfter = b.retryAfter;
        return {
          name: b.name,
          state: b.state,
          retryAfter: retryAfter === Number.POSITIVE_INFINITY ? null : retryAfter,
          ...s.figures(),
        };
      }),
      limits: found.limits.map(describeLimit),
      shedders: found.shedders.map(describeShedder),
      queues: found.queues.map((q) => describeQueue(q, queueStats.get(q))),
      switches: found.switches.map((s) => ({
        name: s.name,
        enabled: s.enabled,
        chaos: chaosBy.get(s.name) ?? [],
      })),
      chaos,
      health:
        health === undefined
          ? null
          : report === undefined
            ? { status: health.status, components: [] }
            : healthView(report),
    };
  };

  const drop = (client: Client) => {
    if (!clients.delete(client)) return;
    if (!client.response.destroyed) client.response.destroy();
    if (clients.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const send = (client: Client, text: string) => {
    const r = client.response;
    if (r.destroyed || r.writableEnded) return drop(client);
    if (r.writableLength > MAX_BUFFERED) return drop(client);
    client.lastWrite = clock.now();
    if (!r.write(text)) {
      client.blocked = true;
      r.once('drain', () => {
        client.blocked = false;
      });
    }
  };

  const broadcast = () => {
    soon = undefined;
    if (clients.size === 0) return;
    if (health !== undefined && clock.now() - checkedAt >= healthInterval) void refreshHealth(false);
    void refreshQueues();
    let data: string;
    let change: string;
    try {
      const current = view();
      data = JSON.stringify(current);
      // Whether anything but the time moved: an unchanged view is not sent again, but a heartbeat is.
      change = JSON.stringify({ ...current, now: 0 });
    } catch (error) {
      process.emitWarning(new Error('dashboard: reading the policies failed', { cause: error }));
      return;
    }
    const now = clock.now();
    for (const client of clients) {
      if (client.blocked) continue;
      if (client.lastSent !== change) {
        client.lastSent = change;
        send(client, `data: ${data}\n\n`);
      } else if (now - client.lastWrite >= heartbeat) send(client, ': heartbeat\n\n');
    }
  };

  function schedule(): void {
    if (soon === undefined && clients.size !== 0) soon = setImmediate(broadcast);
  }

  const stream = (request: IncomingMessage, response: ServerResponse) => {
    if (clients.size >= maxClients) {
      return json(response, 503, { error: `too many dashboard pages connected (maxClients ${maxClients})` });
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: Client = { response, blocked: false, lastWrite: clock.now(), lastSent: '' };
    clients.add(client);
    request.once('close', () => drop(client));
    response.once('close', () => drop(client));
    response.write('retry: 2000\n\n');
    if (timer === undefined) {
      timer = setInterval(broadcast, interval);
      timer.unref();
    }
    void refreshHealth(true);
    broadcast();
  };

  const control = (request: IncomingMessage, response: ServerResponse, parts: string[]) => {
    request.resume(); // no body is read; let it drain
    if (request.method !== 'POST')
      return json(response, 405, { error: 'controls take a POST' }, { allow: 'POST' });
    const given = request.headers[TOKEN_HEADER];
    if (token === undefined) return json(response, 403, { error: 'controls are not enabled' });
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), token)) {
      return json(response, 403, { error: `missing or wrong ${TOKEN_HEADER}` });
    }
    let name: string;
    try {
      name = decodeURIComponent(parts[1]!);
    } catch {
      return json(response, 400, { error: 'bad name' });
    }
    const action = parts[2];
    if (parts[0] === 'breakers') {
      const breaker = breakers.get(name);
      if (breaker === undefined)
        return json(response, 404, { error: `no breaker named ${JSON.stringify(name)}` });
      if (action === 'isolate') breaker.isolate();
      else if (action === 'reset') breaker.reset();
      else if (action === 'disable') breaker.disable();
      else return json(response, 404, { error: 'actions are isolate, reset and disable' });
      schedule();
      return json(response, 200, { name, state: breaker.state });
    }
    const s = switches.get(name);
    if (s === undefined) return json(response, 404, { error: `no flag named ${JSON.stringify(name)}` });
    if (action !== 'on' && action !== 'off') return json(response, 404, { error: 'actions are on and off' });
    s.set(action === 'on');
    schedule();
    return json(response, 200, { name, state: s.enabled ? 'on' : 'off' });
  };

  const page = async (request: IncomingMessage, response: ServerResponse) => {
    await Promise.all([report === undefined ? refreshHealth(false) : undefined, refreshQueues()]);
    const body = renderPage(title, scriptJson(view()));
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
      // The page runs only its own inline script and talks only to its own origin.
      'content-security-policy':
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };

  /**
   * The route under the dashboard: from the path a router handed over (Express strips its
   * mount path from `url`), else from the full path (`originalUrl`). `shown` is the path the
   * browser asked for, to which the page's relative links resolve.
   */
  const routeOf = (request: IncomingMessage): { rel: string; shown: string } | undefined => {
    const original = pathOf((request as { originalUrl?: string }).originalUrl);
    for (const full of [pathOf(request.url), original]) {
      if (full === undefined) continue;
      if (full === basePath || full.startsWith(`${basePath}/`)) {
        return { rel: full.slice(basePath.length), shown: original ?? full };
      }
    }
    return undefined;
  };

  const serve = async (
    request: IncomingMessage,
    response: ServerResponse,
    next?: (error?: unknown) => void,
  ) => {
    const route = closed ? undefined : routeOf(request);
    const rel = route?.rel;
    const parts = rel === undefined ? [] : rel.split('/').slice(1);
    const read = request.method === 'GET' || request.method === 'HEAD';
    if (route !== undefined && (rel === '' || rel === '/') && read) {
      // Relative links (events, state, controls) need the trailing slash.
      if (!route.shown.endsWith('/')) {
        const query = request.url?.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
        response.writeHead(308, { location: `${route.shown}/${query}` });
        return void response.end();
      }
      return page(request, response);
    }
    if (rel === '/events' && request.method === 'GET') return stream(request, response);
    if (rel === '/state' && read) {
      await Promise.all([refreshHealth(false), refreshQueues()]);
      return json(response, 200, view());
    }
    if (parts.length === 3 && (parts[0] === 'breakers' || parts[0] === 'flags'))
      return control(request, response, parts);
    if (next !== undefined) return next();
    json(response, 404, { error: 'not found' });
  };

  const handler = ((request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void) => {
    serve(request, response, next).catch((error: unknown) => {
      process.emitWarning(new Error('dashboard: a request failed', { cause: error }));
      if (!response.headersSent) json(response, 500, { error: 'dashboard failed' });
      else response.destroy();
    });
  }) as DashboardHandler;

  const close = () => {
    if (closed) return;
    closed = true;
    for (const client of [...clients]) {
      client.response.end();
      drop(client);
    }
    if (soon !== undefined) clearImmediate(soon);
    for (const s of stats) s.dispose();
    for (const b of found.breakers) b.off('stateChanged', onMove);
    health?.off('statusChanged', onStatus);
    for (const off of flagListeners) off();
  };

  Object.defineProperties(handler, {
    clients: { get: () => clients.size },
    watching: { get: () => timer !== undefined },
    view: { value: view },
    close: { value: close },
    [Symbol.dispose]: { value: close },
  });
  return handler;
}
