import fc from 'fast-check';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  type TransitionReason,
} from '../../src/circuit-breaker/index.js';
import { TRANSITIONS } from '../../src/circuit-breaker/state.js';
import type { ProbeGrant, ProbeResult, SharedConfig } from '../../src/circuit-breaker/store.js';
import { BrokenCircuitError, IsolatedCircuitError } from '../../src/errors.js';
import {
  keysOf,
  parseAnswer,
  type RedisCommandClient,
  runScript,
  SCRIPTS,
  type Script,
} from '../../src/redis/scripts.js';
import { ManualClock } from '../../src/testing/index.js';
import { type Deferred, deferred } from '../circuit-breaker/helpers.js';
import { ModelCircuitStore } from '../circuit-breaker/memory-store.js';
import { requireService } from '../helpers/services.js';

// ---------------------------------------------------------------------------------------------
// Configuration

type Mode = 'consecutive' | 'rate' | 'both' | 'slow-only' | 'rate+slow';

interface Config {
  readonly mode: Mode;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly halfOpenMaxCalls: number;
  readonly openTimeout: number;
  readonly backoff: boolean;
  readonly windowSize: number;
  readonly minimumCalls: number;
  readonly failureRate: number;
  readonly slowRate: number;
}

const SLOW_CALL_DURATION = 20;

const configArb: fc.Arbitrary<Config> = fc
  .record({
    mode: fc.constantFrom<Mode>('consecutive', 'rate', 'both', 'slow-only', 'rate+slow'),
    failureThreshold: fc.integer({ min: 1, max: 4 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
    openTimeout: fc.integer({ min: 1, max: 100 }),
    backoff: fc.boolean(),
    windowSize: fc.integer({ min: 1, max: 6 }),
    minimumCalls: fc.integer({ min: 1, max: 6 }),
    failureRate: fc.constantFrom(0.25, 0.5, 0.75, 1),
    slowRate: fc.constantFrom(0.5, 1),
  })
  .map((c) => ({ ...c, minimumCalls: Math.min(c.minimumCalls, c.windowSize) }));

const IGNORED = new Error('ignored by isFailure');
const FAILURE = new Error('dependency failed');

function openTimeoutOf(config: Config): (opens: number) => number {
  return (opens) => (config.backoff ? config.openTimeout * opens : config.openTimeout);
}

function optionsOf(config: Config, clock: ManualClock): CircuitBreakerOptions {
  const options: CircuitBreakerOptions = {
    clock,
    name: 'model',
    successThreshold: config.successThreshold,
    halfOpenMaxCalls: config.halfOpenMaxCalls,
    openTimeout: config.backoff ? openTimeoutOf(config) : config.openTimeout,
    isFailure: (error) => error !== IGNORED,
  };
  const rate = {
    window: { type: 'count', size: config.windowSize } as const,
    minimumCalls: config.minimumCalls,
  };
  const slow = { slowCallDuration: SLOW_CALL_DURATION, slowCallRateThreshold: config.slowRate };
  switch (config.mode) {
    case 'consecutive':
      return { ...options, failureThreshold: config.failureThreshold };
    case 'rate':
      return { ...options, ...rate, failureRateThreshold: config.failureRate };
    case 'both':
      return {
        ...options,
        ...rate,
        failureRateThreshold: config.failureRate,
        failureThreshold: config.failureThreshold,
      };
    case 'slow-only':
      return { ...options, ...rate, ...slow };
    case 'rate+slow':
      return { ...options, ...rate, ...slow, failureRateThreshold: config.failureRate };
  }
}

// ---------------------------------------------------------------------------------------------
// The reference model: a plain transcription of the rules of issue 2.

type Kind = 'success' | 'failure' | 'ignored' | 'aborted';

interface ModelCall {
  readonly epoch: number;
  readonly start: number;
}

class Model {
  state: CircuitState = 'closed';
  now = 0;
  epoch = 0;
  openUntil = 0;
  consecutiveOpens = 0;
  probes = 0;
  probeSuccesses = 0;
  failuresInARow = 0;
  window: { failed: boolean; slow: boolean }[] = [];
  pending: ModelCall[] = [];
  transitions: string[] = [];

  readonly consecutiveThreshold: number | undefined;
  readonly failureRate: number | undefined;
  readonly slowRate: number | undefined;

  constructor(readonly config: Config) {
    const rate = config.mode === 'rate' || config.mode === 'both' || config.mode === 'rate+slow';
    this.failureRate = rate ? config.failureRate : undefined;
    this.slowRate = config.mode === 'slow-only' || config.mode === 'rate+slow' ? config.slowRate : undefined;
    // Consecutive tripping: when failureThreshold is given, or by default (5) when no failure rate is.
    this.consecutiveThreshold =
      config.mode === 'consecutive' || config.mode === 'both'
        ? config.failureThreshold
        : rate
          ? undefined
          : 5;
  }

  /** What the breaker does with a call arriving now. */
  admit():
    | { admitted: true; probe: boolean; call: ModelCall }
    | { admitted: false; error: 'broken' | 'isolated' } {
    switch (this.state) {
      case 'isolated':
        return { admitted: false, error: 'isolated' };
      case 'open':
        if (this.now < this.openUntil) return { admitted: false, error: 'broken' };
        this.move('half-open', 'open-timeout-elapsed');
        return this.admitProbe();
      case 'half-open':
        return this.admitProbe();
      default:
        return { admitted: true, probe: false, call: { epoch: this.epoch, start: this.now } };
    }
  }

  private admitProbe():
    | { admitted: true; probe: true; call: ModelCall }
    | { admitted: false; error: 'broken' } {
    if (this.probes >= this.config.halfOpenMaxCalls) return { admitted: false, error: 'broken' };
    this.probes++;
    return { admitted: true, probe: true, call: { epoch: this.epoch, start: this.now } };
  }

  settle(call: ModelCall, kind: Kind): void {
    if (call.epoch !== this.epoch) return; // outlived a state change: not counted
    if (kind === 'ignored' || kind === 'aborted') {
      if (this.state === 'half-open') this.probes--;
      return;
    }
    const failed = kind === 'failure';
    const slow = this.slowRate !== undefined && this.now - call.start > SLOW_CALL_DURATION;
    if (this.state === 'half-open') {
      this.probes--;
      if (failed || slow) this.open('probe-failed');
      else if (++this.probeSuccesses >= this.config.successThreshold) this.move('closed', 'probes-succeeded');
      return;
    }
    if (this.state !== 'closed') return; // disabled: uncounted
    this.failuresInARow = failed ? this.failuresInARow + 1 : 0;
    if (this.consecutiveThreshold !== undefined && this.failuresInARow >= this.consecutiveThreshold) {
      this.open('consecutive-failures');
      return;
    }
    if (this.failureRate === undefined && this.slowRate === undefined) return;
    this.window.push({ failed, slow });
    if (this.window.length > this.config.windowSize) this.window.shift();
    const calls = this.window.length;
    if (calls < this.config.minimumCalls) return;
    const failures = this.window.filter((c) => c.failed).length;
    const slowCalls = this.window.filter((c) => c.slow).length;
    if (this.failureRate !== undefined && failures / calls >= this.failureRate) this.open('failure-rate');
    else if (this.slowRate !== undefined && slowCalls / calls >= this.slowRate) this.open('slow-call-rate');
  }

  isolate(): void {
    if (this.state !== 'isolated') this.move('isolated', 'isolated');
  }

  disable(): void {
    if (this.state !== 'disabled') this.move('disabled', 'disabled');
  }

  reset(): void {
    if (this.state !== 'closed') this.move('closed', 'reset');
    else {
      this.epoch++;
      this.failuresInARow = 0;
      this.window = [];
      this.consecutiveOpens = 0;
    }
  }

  private open(reason: TransitionReason): void {
    this.consecutiveOpens++;
    this.openUntil = this.now + openTimeoutOf(this.config)(this.consecutiveOpens);
    this.move('open', reason);
  }

  private move(to: CircuitState, reason: TransitionReason): void {
    this.transitions.push(`${this.state}>${to}:${reason}`);
    this.state = to;
    this.epoch++;
    this.probes = 0;
    this.probeSuccesses = 0;
    this.failuresInARow = 0;
    this.window = [];
    if (to === 'closed') this.consecutiveOpens = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// The real system, with what the invariants observe of it

interface RealCall {
  readonly gate: Deferred<string>;
  readonly controller: AbortController;
  /** Which state period (counted by stateChanged events) the call was admitted in. */
  readonly period: number;
  readonly probe: boolean;
  readonly settled: Promise<unknown>;
}

interface Real {
  readonly clock: ManualClock;
  readonly breaker: CircuitBreaker;
  readonly config: Config;
  readonly transitions: string[];
  readonly pending: RealCall[];
  /** Bumped on each stateChanged. */
  period: number;
  /** Calls of `fn` so far. */
  runs: number;
  /** The most probes of one half-open period seen running at once. */
  maxProbes: number;
}

function setup(config: Config): () => { model: Model; real: Real } {
  return () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker(optionsOf(config, clock));
    const real: Real = {
      clock,
      breaker,
      config,
      transitions: [],
      pending: [],
      period: 0,
      runs: 0,
      maxProbes: 0,
    };
    breaker.on('stateChanged', ({ from, to, reason }) => {
      // Invariant: every observed change is an allowed one.
      expect(TRANSITIONS[from]).toContain(to);
      expect(from).not.toBe(to);
      real.transitions.push(`${from}>${to}:${reason}`);
      real.period++;
    });
    return { model: new Model(config), real };
  };
}

/** Probes of the current half-open period still running. */
function runningProbes(r: Real): number {
  return r.pending.filter((c) => c.probe && c.period === r.period).length;
}

/** Checks that hold after every command. */
function checkInvariants(m: Model, r: Real): void {
  expect(r.clock.now()).toBe(m.now);
  expect(r.breaker.state).toBe(m.state);
  expect(r.transitions).toEqual(m.transitions);
  expect(r.pending.length).toBe(m.pending.length);
  if (r.breaker.state === 'half-open')
    expect(runningProbes(r)).toBeLessThanOrEqual(r.config.halfOpenMaxCalls);
  expect(r.clock.pendingTimers).toBe(0);
}

type Admission =
  | { admitted: true; probe: boolean; call: ModelCall }
  | { admitted: false; error: 'broken' | 'isolated' };

/**
 * Checks a call's admission against the model and against what can be seen of the breaker
 * before the call: an open (not yet due) or isolated breaker must not run the function, and
 * an open breaker whose timeout has elapsed must admit the call as a probe.
 */
function checkAdmission(
  r: Real,
  expected: Admission,
  before: ReturnType<typeof observe>,
  ran: boolean,
  error: unknown,
): void {
  if (before.state === 'isolated' || (before.state === 'open' && before.retryAfter > 0))
    expect(ran).toBe(false);
  if (before.state === 'open' && before.retryAfter === 0) {
    expect(ran).toBe(true);
    expect(r.transitions[before.changes]).toBe('open>half-open:open-timeout-elapsed');
  }
  expect(ran).toBe(expected.admitted);
  if (!expected.admitted) {
    expect(error).toBeInstanceOf(expected.error === 'isolated' ? IsolatedCircuitError : BrokenCircuitError);
    if (expected.error === 'broken') expect(error).not.toBeInstanceOf(IsolatedCircuitError);
  }
}

function observe(r: Real) {
  return { state: r.breaker.state, retryAfter: r.breaker.retryAfter, changes: r.transitions.length };
}

// ---------------------------------------------------------------------------------------------
// Commands

type Cmd = fc.AsyncCommand<Model, Real>;

/** A call that runs and settles at once; `slow` calls take longer than slowCallDuration by the clock. */
class CallCommand implements Cmd {
  constructor(
    readonly kind: 'success' | 'failure' | 'ignored',
    readonly slow: boolean,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = observe(r);
    const expected = m.admit();
    const duration = this.slow ? SLOW_CALL_DURATION + 1 : 0;
    let ran = false;
    const result = await r.breaker
      .execute(() => {
        ran = true;
        r.runs++;
        if (r.breaker.state === 'half-open') expect(runningProbes(r)).toBeLessThan(r.config.halfOpenMaxCalls);
        r.clock.advance(duration);
        if (this.kind === 'success') return 'ok';
        throw this.kind === 'failure' ? FAILURE : IGNORED;
      })
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    if (ran) {
      m.now += duration;
      if (this.kind === 'success') expect(result).toEqual({ value: 'ok' });
      else expect(result).toEqual({ error: this.kind === 'failure' ? FAILURE : IGNORED });
    }
    checkAdmission(r, expected, before, ran, 'error' in result ? result.error : undefined);
    if (expected.admitted) m.settle(expected.call, this.kind);
    checkInvariants(m, r);
  }
  toString = () => `call(${this.kind}${this.slow ? ', slow' : ''})`;
}

/** Starts a call that stays in flight until a SettleCommand. */
class StartCommand implements Cmd {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = observe(r);
    const expected = m.admit();
    const gate = deferred<string>();
    const controller = new AbortController();
    let ran = false;
    let probe = false;
    const promise = r.breaker.execute(
      () => {
        ran = true;
        r.runs++;
        probe = r.breaker.state === 'half-open';
        if (probe) expect(runningProbes(r)).toBeLessThan(r.config.halfOpenMaxCalls);
        return gate.promise;
      },
      { signal: controller.signal },
    );
    const settled = promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    if (ran) {
      r.pending.push({ gate, controller, period: r.period, probe, settled });
      r.maxProbes = Math.max(r.maxProbes, runningProbes(r));
      checkAdmission(r, expected, before, true, undefined);
    } else {
      checkAdmission(r, expected, before, false, await errorOf(settled));
    }
    if (expected.admitted) m.pending.push(expected.call);
    checkInvariants(m, r);
  }
  toString = () => 'start';
}

async function errorOf(settled: Promise<unknown>): Promise<unknown> {
  const result = (await settled) as { error?: unknown };
  return result.error;
}

/** Settles the `index`-th call in flight (modulo their number). */
class SettleCommand implements Cmd {
  constructor(
    readonly index: number,
    readonly kind: Kind,
  ) {}
  check = (m: Readonly<Model>) => m.pending.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const i = this.index % m.pending.length;
    const call = r.pending[i]!;
    r.pending.splice(i, 1);
    const modelCall = m.pending.splice(i, 1)[0]!;
    switch (this.kind) {
      case 'success':
        call.gate.resolve('done');
        break;
      case 'failure':
        call.gate.reject(FAILURE);
        break;
      case 'ignored':
        call.gate.reject(IGNORED);
        break;
      case 'aborted':
        call.controller.abort();
        call.gate.reject(call.controller.signal.reason);
        break;
    }
    const result = (await call.settled) as { value?: unknown; error?: unknown };
    if (this.kind === 'success') expect(result.value).toBe('done');
    else expect(result.error).toBeDefined();
    m.settle(modelCall, this.kind);
    checkInvariants(m, r);
  }
  toString = () => `settle(#${this.index}, ${this.kind})`;
}

/** The same command `times` times in a row: runs of failures, of slow calls, of concurrent starts. */
class RepeatCommand implements Cmd {
  constructor(
    readonly command: Cmd,
    readonly times: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    for (let i = 0; i < this.times; i++) await this.command.run(m, r);
  }
  toString = () => `${this.command.toString()} x${this.times}`;
}

class AdvanceCommand implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.clock.advance(this.ms);
    m.now += this.ms;
    checkInvariants(m, r);
  }
  toString = () => `advance(${this.ms})`;
}

/** While open, moves time to exactly when a probe is due (`offset` 0) or to 1 ms before it (`offset` -1). */
class AdvanceToProbeCommand implements Cmd {
  constructor(readonly offset: 0 | -1) {}
  check = (m: Readonly<Model>) => m.state === 'open' && m.openUntil + this.offset > m.now;
  async run(m: Model, r: Real): Promise<void> {
    const ms = m.openUntil + this.offset - m.now;
    expect(r.breaker.retryAfter).toBe(ms - this.offset);
    r.clock.advance(ms);
    m.now += ms;
    expect(r.breaker.retryAfter).toBe(this.offset === 0 ? 0 : 1);
    checkInvariants(m, r);
  }
  toString = () => (this.offset === 0 ? 'advanceToProbe()' : 'advanceToJustBeforeProbe()');
}

class ManualCommand implements Cmd {
  constructor(readonly op: 'isolate' | 'disable' | 'reset') {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    r.breaker[this.op]();
    m[this.op]();
    checkInvariants(m, r);
  }
  toString = () => `${this.op}()`;
}

const failCall = fc.constant(new CallCommand('failure', false));
const okCall = fc.constant(new CallCommand('success', false));
const start = fc.constant(new StartCommand());
const anyCall = fc
  .record({
    kind: fc.constantFrom('success' as const, 'failure' as const, 'ignored' as const),
    slow: fc.boolean(),
  })
  .map(({ kind, slow }) => new CallCommand(kind, slow));
const settle = fc
  .record({
    index: fc.nat({ max: 5 }),
    kind: fc.constantFrom<Kind>('success', 'success', 'failure', 'ignored', 'aborted'),
  })
  .map(({ index, kind }) => new SettleCommand(index, kind));
const advance = fc.integer({ min: 1, max: 120 }).map((ms) => new AdvanceCommand(ms));
const toProbe = fc.constantFrom(
  new AdvanceToProbeCommand(0),
  new AdvanceToProbeCommand(0),
  new AdvanceToProbeCommand(-1),
);
const manual = fc
  .constantFrom<'isolate' | 'disable' | 'reset'>('reset', 'reset', 'reset', 'isolate', 'disable')
  .map((op) => new ManualCommand(op));

const burst = fc
  .record({
    command: fc.constantFrom<Cmd>(
      new CallCommand('failure', false),
      new CallCommand('failure', true),
      new CallCommand('success', true),
      new CallCommand('success', false),
      new StartCommand(),
      new StartCommand(),
    ),
    times: fc.integer({ min: 2, max: 6 }),
  })
  .map(({ command, times }) => new RepeatCommand(command, times));

/** Weighted so that circuits open, probe, and run probes side by side; manual operations are rare. */
const commandsArb = fc.commands(
  [
    fc.oneof(
      { weight: 5, arbitrary: failCall },
      { weight: 3, arbitrary: okCall },
      { weight: 2, arbitrary: anyCall },
      { weight: 3, arbitrary: burst },
      { weight: 2, arbitrary: start },
      { weight: 3, arbitrary: settle },
      { weight: 2, arbitrary: advance },
      { weight: 3, arbitrary: toProbe },
      { weight: 1, arbitrary: manual },
    ),
  ],
  { maxCommands: 50, size: 'max' },
);

describe('CircuitBreaker against a reference model', () => {
  it('agrees with the model and keeps its invariants over random command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
        const start = setup(config);
        await fc.asyncModelRun(start, commands);
      }),
      { numRuns: 200 },
    );
  });

  it('generates sequences that do reach half-open (the generator is not vacuous)', async () => {
    let reachedHalfOpen = 0;
    let probeFailed = 0;
    let closedAgain = 0;
    let concurrentProbes = 0;
    await fc.assert(
      fc.asyncProperty(configArb, commandsArb, async (config, commands) => {
        const start = setup(config);
        let real: Real | undefined;
        await fc.asyncModelRun(() => {
          const s = start();
          real = s.real;
          return s;
        }, commands);
        if (real?.transitions.includes('open>half-open:open-timeout-elapsed')) reachedHalfOpen++;
        if (real?.transitions.includes('half-open>open:probe-failed')) probeFailed++;
        if (real?.transitions.includes('half-open>closed:probes-succeeded')) closedAgain++;
        if (real !== undefined && real.maxProbes >= 2) concurrentProbes++;
      }),
      { numRuns: 100, seed: 42 },
    );
    expect(reachedHalfOpen).toBeGreaterThan(40);
    expect(probeFailed).toBeGreaterThan(20);
    expect(closedAgain).toBeGreaterThan(5);
    expect(concurrentProbes).toBeGreaterThan(3);
  });
});

// ---------------------------------------------------------------------------------------------
// The shared circuit of `breakwater/redis`: its Lua scripts, run on the machine's Redis, against
// a plain model, over random interleavings of steps from several processes.

const redisUp = await requireService('Redis', '127.0.0.1', 6379);

type SharedStep =
  | { readonly op: 'report'; readonly p: number; readonly outcomes: string }
  | { readonly op: 'acquire'; readonly p: number }
  | { readonly op: 'settle'; readonly p: number; readonly byHolder: boolean; readonly result: ProbeResult }
  | { readonly op: 'force'; readonly p: number; readonly to: 'closed' | 'isolated' | 'disabled' }
  | { readonly op: 'read'; readonly p: number }
  | { readonly op: 'advance'; readonly ms: number };

const PROCESSES = 3;
const processArb = fc.integer({ min: 0, max: PROCESSES - 1 });
const sharedStepArb: fc.Arbitrary<SharedStep> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('report' as const),
      p: processArb,
      outcomes: fc.stringMatching(/^[0-3]{1,6}$/),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('acquire' as const), p: processArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('settle' as const),
      p: processArb,
      // mostly the process that last took the lease: a settle by another is fenced off
      byHolder: fc.boolean(),
      result: fc.constantFrom<ProbeResult>('success', 'failure', 'release'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('force' as const),
      p: processArb,
      to: fc.constantFrom(
        'closed' as const,
        'closed' as const,
        'closed' as const,
        'isolated' as const,
        'disabled' as const,
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('read' as const), p: processArb }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  },
);

const sharedConfigArb: fc.Arbitrary<SharedConfig> = fc
  .record({
    consecutive: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    rate: fc.option(fc.constantFrom(0.25, 0.5, 1), { nil: undefined }),
    slowRate: fc.option(fc.constantFrom(0.5, 1), { nil: undefined }),
    window: fc.oneof(
      fc.record({ type: fc.constant('count' as const), size: fc.integer({ min: 1, max: 6 }) }),
      fc.record({
        type: fc.constant('time' as const),
        duration: fc.constantFrom(200, 500, 1_000),
        buckets: fc.constantFrom(1, 2, 5),
      }),
    ),
    minimumCalls: fc.integer({ min: 1, max: 6 }),
    successThreshold: fc.integer({ min: 1, max: 2 }),
  })
  .map((c) => {
    const windowed = c.rate !== undefined || c.slowRate !== undefined;
    return {
      failureThreshold: c.consecutive ?? (windowed ? undefined : 2),
      failureRateThreshold: c.rate,
      slowCallRateThreshold: c.slowRate,
      minimumCalls: c.window.type === 'count' ? Math.min(c.minimumCalls, c.window.size) : c.minimumCalls,
      window: windowed ? c.window : undefined,
      successThreshold: c.successThreshold,
    };
  });

describe.runIf(redisUp)('the shared circuit: Lua scripts on Redis against a model', () => {
  let client: RedisClientType;
  beforeAll(async () => {
    client = createClient({ url: 'redis://127.0.0.1:6379' });
    await client.connect();
  });
  afterAll(async () => {
    await client?.quit();
  });

  it('answer what the model answers, step for step, for every process', async () => {
    let run = 0;
    const reached = new Set<string>();
    const prefix = `bw-model-${process.pid}-${Date.now()}`;
    const sender = client as unknown as RedisCommandClient;
    await fc.assert(
      fc.asyncProperty(
        sharedConfigArb,
        fc.integer({ min: 0, max: 100 }),
        fc.array(sharedStepArb, { minLength: 1, maxLength: 60, size: 'max' }),
        async (config, openTimeout, steps) => {
          const name = `c${run++}`;
          const model = new ModelCircuitStore();
          let now = 1_000_000;
          const seen = Array.from({ length: PROCESSES }, () => ({ gen: 0, token: `t${run}`, probeGen: 0 }));
          const lua = async (script: Script, args: string[]) =>
            parseAnswer(
              await runScript(sender, script, keysOf(prefix, name), [
                String(now),
                `${prefix}:changed`,
                name,
                '60000',
                ...args,
              ]),
            );
          const configArgs = [
            String(config.failureThreshold ?? 0),
            String(config.failureRateThreshold ?? 2),
            String(config.slowCallRateThreshold ?? 2),
            String(config.minimumCalls),
            config.window?.type ?? '',
            String(
              config.window === undefined
                ? 0
                : config.window.type === 'count'
                  ? config.window.size
                  : config.window.duration,
            ),
            String(config.window?.type === 'time' ? config.window.buckets : 0),
          ];
          let count = 0;
          let holder = 0;
          let token: string;
          for (const step of steps) {
            if (step.op === 'advance') {
              now += step.ms;
              continue;
            }
            const who = step.op === 'settle' && step.byHolder ? holder : step.p;
            const me = seen[who]!;
            let expected: ProbeGrant;
            let actual: ProbeGrant;
            switch (step.op) {
              case 'report':
                expected = model.report(name, now, me.gen, step.outcomes, config, openTimeout);
                actual = await lua(SCRIPTS.report, [
                  String(me.gen),
                  step.outcomes,
                  ...configArgs,
                  String(openTimeout),
                ]);
                break;
              case 'acquire':
                token = `p${step.p}.${count++}`;
                expected = model.acquireProbe(name, now, token, 1e9);
                actual = await lua(SCRIPTS.acquire, [String(me.gen), token, '1000000000']);
                if (actual.granted) {
                  me.token = token;
                  me.probeGen = actual.gen;
                  holder = step.p;
                }
                break;
              case 'settle':
                expected = model.settleProbe(
                  name,
                  now,
                  me.probeGen,
                  me.token,
                  step.result,
                  config,
                  openTimeout,
                );
                actual = await lua(SCRIPTS.settle, [
                  String(me.probeGen),
                  me.token,
                  step.result,
                  String(config.successThreshold),
                  String(openTimeout),
                ]);
                break;
              case 'force':
                expected = model.force(name, now, step.to);
                actual = await lua(SCRIPTS.force, [step.to]);
                break;
              case 'read':
                expected = model.read(name, now);
                actual = await lua(SCRIPTS.read, []);
                break;
            }
            // A lease's TTL runs on Redis's own clock, not the test's: compare it only while no lease shows.
            const comparable = (g: ProbeGrant) => (g.state === 'half-open' ? { ...g, retryAfter: 0 } : g);
            expect(comparable(actual), `${step.op} by process ${who}`).toEqual(comparable(expected));
            me.gen = actual.gen;
            reached.add(`${actual.state}:${actual.reason}`);
          }
        },
      ),
      { numRuns: 80 },
    );
    // The generator is not vacuous: every kind of transition happened somewhere.
    for (const seen of [
      'open:consecutive-failures',
      'open:failure-rate',
      'open:slow-call-rate',
      'half-open:open-timeout-elapsed',
      'open:probe-failed',
      'closed:probes-succeeded',
      'isolated:isolated',
      'closed:reset',
    ]) {
      expect(reached.has(seen), `${seen} in ${[...reached].sort().join(' ')}`).toBe(true);
    }
  }, 30_000);
});
