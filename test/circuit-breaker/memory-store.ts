import type { CircuitState, TransitionReason, TripReason } from '../../src/circuit-breaker/state.js';
import type {
  CircuitStore,
  ProbeGrant,
  ProbeResult,
  SharedConfig,
  SharedState,
  StoreTiming,
} from '../../src/circuit-breaker/store.js';

/** One circuit as the plain model holds it: every outcome kept, windows recounted naively. */
interface ModelCircuit {
  state: CircuitState;
  gen: number;
  until: number;
  opens: number;
  reason: TransitionReason | undefined;
  successes: number;
  /** Outcomes since the last transition, each with the time it was reported at. */
  outcomes: { at: number; outcome: number }[];
  lease: { token: string; until: number } | undefined;
}

/**
 * The shared circuit as a plain reference model: what the Lua scripts of `redisCircuitStore`
 * must agree with. Windows are recounted from every outcome kept (no running totals), so a
 * bug in the scripts' bookkeeping cannot hide in a twin of it.
 */
export class ModelCircuitStore {
  private readonly circuits = new Map<string, ModelCircuit>();

  private get(name: string): ModelCircuit {
    let c = this.circuits.get(name);
    if (c === undefined) {
      c = {
        state: 'closed',
        gen: 0,
        until: 0,
        opens: 0,
        reason: undefined,
        successes: 0,
        outcomes: [],
        lease: undefined,
      };
      this.circuits.set(name, c);
    }
    return c;
  }

  private answer(c: ModelCircuit, now: number, granted = false): ProbeGrant {
    const leaseLeft = c.lease !== undefined && c.lease.until > now ? c.lease.until - now : 0;
    return {
      state: c.state,
      gen: c.gen,
      retryAfter: c.state === 'open' ? Math.max(0, c.until - now) : c.state === 'half-open' ? leaseLeft : 0,
      opens: c.opens,
      reason: c.reason,
      granted,
    };
  }

  private move(c: ModelCircuit, to: CircuitState, reason: TransitionReason, until: number, opens: number) {
    c.gen++;
    c.state = to;
    c.reason = reason;
    c.until = until;
    c.opens = opens;
    c.successes = 0;
    c.outcomes = [];
    c.lease = undefined;
  }

  read(name: string, now: number): ProbeGrant {
    return this.answer(this.get(name), now);
  }

  report(
    name: string,
    now: number,
    gen: number,
    outcomes: string,
    config: SharedConfig,
    openTimeout: number,
  ): ProbeGrant {
    const c = this.get(name);
    if (c.state !== 'closed' || c.gen !== gen) return this.answer(c, now);
    for (const ch of outcomes) {
      c.outcomes.push({ at: now, outcome: Number(ch) });
      const reason = tripOf(c.outcomes, now, config);
      if (reason !== undefined) {
        this.move(c, 'open', reason, now + openTimeout, c.opens + 1);
        break;
      }
    }
    return this.answer(c, now);
  }

  acquireProbe(name: string, now: number, token: string, leaseMs: number): ProbeGrant {
    const c = this.get(name);
    if (c.state === 'open' && now >= c.until)
      this.move(c, 'half-open', 'open-timeout-elapsed', c.until, c.opens);
    if (c.state === 'half-open' && (c.lease === undefined || c.lease.until <= now)) {
      c.lease = { token, until: now + leaseMs };
      return this.answer(c, now, true);
    }
    return this.answer(c, now);
  }

  settleProbe(
    name: string,
    now: number,
    gen: number,
    token: string,
    result: ProbeResult,
    config: SharedConfig,
    openTimeout: number,
  ): ProbeGrant {
    const c = this.get(name);
    const held = c.lease !== undefined && c.lease.until > now && c.lease.token === token;
    if (c.state !== 'half-open' || c.gen !== gen || !held) return this.answer(c, now);
    if (result === 'failure') this.move(c, 'open', 'probe-failed', now + openTimeout, c.opens + 1);
    else if (result === 'success' && ++c.successes >= config.successThreshold) {
      this.move(c, 'closed', 'probes-succeeded', 0, 0);
    } else c.lease = undefined;
    return this.answer(c, now);
  }

  force(name: string, now: number, to: 'closed' | 'isolated' | 'disabled'): ProbeGrant {
    const c = this.get(name);
    if (to === 'closed') this.move(c, 'closed', 'reset', 0, 0);
    else this.move(c, to, to, 0, c.opens);
    return this.answer(c, now);
  }
}

/** Whether the outcomes kept since the circuit closed trip it, recounted from scratch. */
function tripOf(
  all: readonly { at: number; outcome: number }[],
  now: number,
  config: SharedConfig,
): TripReason | undefined {
  if (config.failureThreshold !== undefined) {
    let run = 0;
    for (let i = all.length - 1; i >= 0 && all[i]!.outcome & 1; i--) run++;
    if (run >= config.failureThreshold) return 'consecutive-failures';
  }
  const w = config.window;
  if (w === undefined) return undefined;
  let inWindow: { outcome: number }[];
  if (w.type === 'count') inWindow = all.slice(-w.size);
  else {
    const buckets = w.buckets ?? 10;
    const current = Math.floor((now * buckets) / w.duration);
    inWindow = all.filter((o) => Math.floor((o.at * buckets) / w.duration) > current - buckets);
  }
  const calls = inWindow.length;
  if (calls < config.minimumCalls) return undefined;
  const failures = inWindow.filter((o) => o.outcome & 1).length;
  const slow = inWindow.filter((o) => o.outcome & 2).length;
  if (failures / calls >= (config.failureRateThreshold ?? 2)) return 'failure-rate';
  if (slow / calls >= (config.slowCallRateThreshold ?? 2)) return 'slow-call-rate';
  return undefined;
}

/** How a {@link MemoryCircuitStore} answers: at once, never (hangs), or with an error. */
export type StoreMode = 'up' | 'hang' | 'fail';

/**
 * A {@link CircuitStore} over the model, for unit tests on a `ManualClock`: answers on the
 * next microtask, or hangs, or fails, and counts every call it gets.
 */
export class MemoryCircuitStore implements CircuitStore {
  readonly model = new ModelCircuitStore();
  mode: StoreMode = 'up';
  readonly calls: string[] = [];
  private readonly watchers = new Map<string, Set<() => void>>();

  constructor(
    private readonly now: () => number,
    readonly timing: StoreTiming = {
      flushInterval: 100,
      flushSize: 1_000,
      syncInterval: 1_000,
      commandTimeout: 50,
      probeLease: 10_000,
    },
  ) {}

  private answer<T>(operation: string, name: string, run: () => T, changes = true): Promise<T> {
    this.calls.push(operation);
    if (this.mode === 'hang') return new Promise<T>(() => {});
    if (this.mode === 'fail') return Promise.reject(new Error(`store down (${operation})`));
    const before = this.model.read(name, this.now()).gen;
    const result = run();
    if (changes && this.model.read(name, this.now()).gen !== before) {
      for (const changed of this.watchers.get(name) ?? []) queueMicrotask(changed);
    }
    return Promise.resolve(result);
  }

  read(name: string): Promise<SharedState> {
    return this.answer('read', name, () => this.model.read(name, this.now()), false);
  }

  report(name: string, gen: number, outcomes: string, config: SharedConfig, openTimeout: number) {
    return this.answer('report', name, () =>
      this.model.report(name, this.now(), gen, outcomes, config, openTimeout),
    );
  }

  acquireProbe(name: string, _gen: number, token: string, leaseMs: number) {
    return this.answer('acquireProbe', name, () => this.model.acquireProbe(name, this.now(), token, leaseMs));
  }

  settleProbe(
    name: string,
    gen: number,
    token: string,
    result: ProbeResult,
    config: SharedConfig,
    openTimeout: number,
  ) {
    return this.answer('settleProbe', name, () =>
      this.model.settleProbe(name, this.now(), gen, token, result, config, openTimeout),
    );
  }

  force(name: string, to: 'closed' | 'isolated' | 'disabled') {
    return this.answer('force', name, () => this.model.force(name, this.now(), to));
  }

  watch(name: string, changed: () => void): () => void {
    let set = this.watchers.get(name);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(name, set);
    }
    set.add(changed);
    return () => set.delete(changed);
  }
}
