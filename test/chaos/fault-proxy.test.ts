/**
 * Integration tests of FaultProxy against real servers on loopback: an in-test echo server,
 * and the PostgreSQL and Redis that run on these machines (skipped with a warning when
 * absent, failing under CI=true). They use real time, since what the proxy delays is real
 * network traffic: lower bounds on durations are exact, upper bounds are generous.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/index.js';
import { CircuitBreaker } from '../../src/circuit-breaker/index.js';
import { BrokenCircuitError, isTimeoutError, TimeoutError } from '../../src/errors.js';
import { ManualClock } from '../../src/testing/index.js';
import { timeout } from '../../src/timeout/index.js';
import { requireService } from '../helpers/services.js';
import { captureWarnings } from '../helpers/warnings.js';

const LOOPBACK = '127.0.0.1';
const postgres = await requireService('PostgreSQL', LOOPBACK, 5432);
const redis = await requireService('Redis', LOOPBACK, 6379);

// Everything a test opens is released after it: proxies first (which ends the connections through them).
const proxies: FaultProxy[] = [];
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startProxy(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { host: LOOPBACK, port } });
  proxies.push(proxy);
  return proxy;
}

/** Waits (real time) until `condition` holds; returns the ms it took. */
async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
  return performance.now() - start;
}

interface TestServer {
  readonly port: number;
  /** Sockets accepted and not yet closed. */
  readonly sockets: Set<net.Socket>;
  /** Bytes received from all connections. */
  received(): number;
  /** Connections accepted since it started. */
  accepted(): number;
  /** ms since the epoch when the last chunk arrived. */
  lastReceivedAt(): number;
}

/** A TCP server on loopback, closed after the test; by default it echoes every byte back. */
async function startServer(
  onConnection: (socket: net.Socket) => void = (socket) => socket.pipe(socket),
): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let received = 0;
  let accepted = 0;
  let lastReceivedAt = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      lastReceivedAt = Date.now();
    });
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    received: () => received,
    accepted: () => accepted,
    lastReceivedAt: () => lastReceivedAt,
  };
}

/** A TCP client that records what it receives and how it ended. */
class TestClient {
  readonly chunks: Buffer[] = [];
  length = 0;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Starts connecting; a connection reset at once may fail before or after 'connect'. */
  static open(port: number): TestClient {
    const socket = net.connect({ host: LOOPBACK, port, noDelay: true });
    cleanups.push(() => socket.destroy());
    return new TestClient(socket);
  }

  static async connect(port: number): Promise<TestClient> {
    const client = TestClient.open(port);
    const socket = client.socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return client;
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Sends `payload` and waits for `expected` more bytes; returns them and the round trip in ms. */
  async roundTrip(payload: Buffer | string, expected: number): Promise<{ reply: Buffer; ms: number }> {
    const from = this.length;
    const start = performance.now();
    this.socket.write(payload);
    await until(() => this.length >= from + expected, `${expected} bytes back`);
    return { reply: this.data().subarray(from, from + expected), ms: performance.now() - start };
  }
}

describe('FaultProxy in front of an echo server', () => {
  it('passes 1 MiB of random bytes through both ways, byte for byte, and counts them', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    const payload = randomBytes(1 << 20);
    const { reply } = await client.roundTrip(payload, payload.length);
    expect(reply.equals(payload)).toBe(true);
    expect(proxy.stats).toEqual({
      connections: { accepted: 1, open: 1, refused: 0 },
      bytes: { upstream: payload.length, downstream: payload.length },
      queued: { upstream: 0, downstream: 0 },
    });
    client.socket.end();
    await until(() => client.closed && proxy.stats.connections.open === 0, 'the connection to close');
    expect(echo.sockets.size).toBe(0);
  });

  it('lets a client that ends its side first still receive the whole reply (half-close)', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    const payload = randomBytes(1 << 20);
    client.socket.end(payload);
    await until(() => client.ended, 'the reply to end');
    expect(client.length).toBe(payload.length);
    expect(client.data().equals(payload)).toBe(true);
    await until(() => proxy.stats.connections.open === 0, 'the connection to close');
  });

  it('counts accepted and open connections, and keeps each connection’s bytes apart', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(proxy.port)));
    const replies = await Promise.all(
      clients.map((c, i) => c.roundTrip(`client ${i};`, `client ${i};`.length)),
    );
    expect(replies.map((r) => r.reply.toString())).toEqual(clients.map((_, i) => `client ${i};`));
    expect(proxy.stats.connections).toEqual({ accepted: 5, open: 5, refused: 0 });
    const total = replies.reduce((n, r) => n + r.reply.length, 0);
    expect(proxy.stats.bytes).toEqual({ upstream: total, downstream: total });
    for (const c of clients.slice(0, 3)) c.socket.destroy();
    await until(() => proxy.stats.connections.open === 2, 'three connections to close');
    expect(proxy.stats.connections.accepted).toBe(5);
  });

  it('delays each direction by its own latency', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    await client.roundTrip('warm-up', 7);

    proxy.latency(200, 'upstream');
    let sent = Date.now();
    let { ms } = await client.roundTrip('up', 2);
    expect(echo.lastReceivedAt() - sent).toBeGreaterThanOrEqual(199);
    expect(ms).toBeGreaterThanOrEqual(199);
    expect(ms).toBeLessThan(1_500);

    proxy.heal().latency(200, 'downstream');
    sent = Date.now();
    ({ ms } = await client.roundTrip('down', 4));
    expect(echo.lastReceivedAt() - sent).toBeLessThan(150);
    expect(ms).toBeGreaterThanOrEqual(199);
    expect(ms).toBeLessThan(1_500);

    proxy.heal().latency(150);
    ({ ms } = await client.roundTrip('both', 4));
    expect(ms).toBeGreaterThanOrEqual(299);
    expect(ms).toBeLessThan(2_000);
  });

  it('delivers what a server sent before closing, after the latency', async () => {
    const greeter = await startServer((socket) => socket.end('hello, then goodbye'));
    const proxy = await startProxy(greeter.port);
    proxy.latency(150, 'downstream');
    const start = performance.now();
    const client = await TestClient.connect(proxy.port);
    await until(() => client.ended, 'the greeting and its end');
    expect(performance.now() - start).toBeGreaterThanOrEqual(149);
    expect(client.data().toString()).toBe('hello, then goodbye');
    expect(client.error).toBeUndefined();
  });

  it('heal() sends what was held back by a latency at once', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    proxy.latency(10_000);
    const start = performance.now();
    client.socket.write('stuck');
    await sleep(50);
    expect(client.length).toBe(0);
    proxy.heal();
    await until(() => client.length === 5, 'the held bytes');
    expect(performance.now() - start).toBeLessThan(2_000);
    expect(client.data().toString()).toBe('stuck');
  });

  it('bandwidth() slows a transfer to its rate, in either direction', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    const payload = randomBytes(24 * 1024); // 196,608 bits: 192 ms at 1,024 kbit/s
    const expectedMs = (payload.length * 8) / 1024;

    proxy.bandwidth(1024, 'upstream');
    const up = await client.roundTrip(payload, payload.length);
    expect(up.reply.equals(payload)).toBe(true);
    expect(up.ms).toBeGreaterThanOrEqual(expectedMs - 1);

    proxy.heal().bandwidth(1024, 'downstream');
    const down = await client.roundTrip(payload, payload.length);
    expect(down.reply.equals(payload)).toBe(true);
    expect(down.ms).toBeGreaterThanOrEqual(expectedMs - 1);

    proxy.heal();
    const free = await client.roundTrip(payload, payload.length);
    expect(free.reply.equals(payload)).toBe(true);
  });

  it('refuse() resets new connections at once and leaves open ones alone', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const open = await TestClient.connect(proxy.port);
    proxy.refuse();
    const refused = TestClient.open(proxy.port);
    await until(() => refused.closed, 'the refused connection to close');
    expect(refused.error?.code).toBe('ECONNRESET');
    expect(refused.length).toBe(0);
    expect(proxy.stats.connections).toEqual({ accepted: 2, open: 1, refused: 1 });
    expect((await open.roundTrip('still here', 10)).reply.toString()).toBe('still here');
    expect(echo.sockets.size).toBe(1);

    proxy.heal();
    const after = await TestClient.connect(proxy.port);
    expect((await after.roundTrip('welcome', 7)).reply.toString()).toBe('welcome');
  });

  it('resetConnections() makes every client see ECONNRESET, and new connections work', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const clients = [await TestClient.connect(proxy.port), await TestClient.connect(proxy.port)];
    for (const c of clients) await c.roundTrip('hi', 2);
    proxy.resetConnections();
    await until(() => clients.every((c) => c.closed), 'both clients to close');
    expect(clients.map((c) => c.error?.code)).toEqual(['ECONNRESET', 'ECONNRESET']);
    expect(proxy.stats.connections.open).toBe(0);
    await until(() => echo.sockets.size === 0, 'the server side to close');

    const fresh = await TestClient.connect(proxy.port);
    expect((await fresh.roundTrip('again', 5)).reply.toString()).toBe('again');
  });

  it('blackhole() swallows traffic on open and new connections, and heal() lets it flow', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const open = await TestClient.connect(proxy.port);
    await open.roundTrip('before', 6);
    const forwarded = proxy.stats.bytes.upstream;

    proxy.blackhole();
    open.socket.write('ping');
    const late = await TestClient.connect(proxy.port); // accepted: a partition, not a refusal
    late.socket.write('pong');
    await sleep(300);
    expect(open.length).toBe(6);
    expect(late.length).toBe(0);
    expect(late.closed || open.closed).toBe(false);
    expect(echo.received()).toBe(6);
    expect(echo.sockets.size).toBe(1);
    expect(proxy.stats.bytes.upstream).toBe(forwarded);
    expect(proxy.stats.connections.open).toBe(2);

    proxy.heal();
    await until(() => open.length === 10 && late.length === 4, 'the held traffic');
    expect(open.data().toString()).toBe('beforeping');
    expect(late.data().toString()).toBe('pong');
  });

  it('resets a client whose target cannot be reached', async () => {
    const gone = await startServer();
    const port = gone.port;
    await cleanups.pop()!(); // closes the server: nothing listens on its port now
    const proxy = await startProxy(port);
    const client = await TestClient.connect(proxy.port);
    await until(() => client.closed, 'the client to close');
    expect(client.error?.code).toBe('ECONNRESET');
    expect(proxy.stats.connections.open).toBe(0);
  });

  it('close() closes every connection, held or not, and stops listening', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const flowing = await TestClient.connect(proxy.port);
    await flowing.roundTrip('x', 1);
    proxy.blackhole();
    const held = await TestClient.connect(proxy.port);
    await proxy.close();
    await until(() => flowing.closed && held.closed, 'both clients to close');
    await until(() => echo.sockets.size === 0, 'the server side to close');
    expect(proxy.stats.connections.open).toBe(0);
    await expect(TestClient.connect(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(proxy.close()).resolves.toBeUndefined();
  });

  it('listens on loopback only', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1', 'example.com']) {
      await expect(
        FaultProxy.start({ target: { host: LOOPBACK, port: 1 }, listen: { host } }),
      ).rejects.toThrow(RangeError);
    }
    await expect(
      FaultProxy.start({ target: { host: LOOPBACK, port: 1 }, listen: { host: '0.0.0.0' } }),
    ).rejects.toThrow(/listen\.host.*"0\.0\.0\.0"/);
    const proxy = await FaultProxy.start({ target: { host: LOOPBACK, port: 1 } });
    proxies.push(proxy);
    expect(proxy.host).toBe(LOOPBACK);
    expect(proxy.port).toBeGreaterThan(0);
    expect(proxy.address).toBe(`${LOOPBACK}:${proxy.port}`);
  });

  it('rejects invalid options and fault settings, naming option and value', async () => {
    const target = { host: LOOPBACK, port: 5432 };
    await expect(FaultProxy.start({ target: { host: LOOPBACK, port: 70_000 } })).rejects.toThrow(
      /target\.port.*70000/,
    );
    await expect(FaultProxy.start({ target: { host: LOOPBACK, port: 0 } })).rejects.toThrow(
      /target\.port.*0/,
    );
    await expect(FaultProxy.start({ target: { host: '', port: 1 } })).rejects.toThrow(/target\.host.*""/);
    await expect(FaultProxy.start({} as never)).rejects.toThrow(/target.*undefined/);
    await expect(FaultProxy.start({ target, listn: {} } as never)).rejects.toThrow(/unknown option "listn"/);
    await expect(FaultProxy.start({ target, listen: 'localhost' } as never)).rejects.toThrow(
      /listen.*"localhost"/,
    );
    await expect(FaultProxy.start({ target, listen: { port: 65_536 } })).rejects.toThrow(
      /listen\.port.*65536/,
    );

    const proxy = await startProxy(1);
    expect(() => proxy.latency(-1)).toThrow(/latency.*-1/);
    expect(() => proxy.bandwidth(0)).toThrow(/bandwidth.*0/);
    expect(() => proxy.latency(10, 'sideways' as never)).toThrow(/direction.*"sideways"/);
    expect(proxy.delayMs).toEqual({ upstream: 0, downstream: 0 });
  });

  const target = { host: LOOPBACK, port: 5432 };
  it.each([
    ['options null', null, TypeError, /FaultProxy options.*null/],
    ['options a string', '127.0.0.1:5432', TypeError, /FaultProxy options.*"127\.0\.0\.1:5432"/],
    ['target null', { target: null }, TypeError, /target.*null/],
    ['target.host null', { target: { host: null, port: 1 } }, TypeError, /target\.host.*null/],
    ['target.host a number', { target: { host: 127, port: 1 } }, TypeError, /target\.host.*127/],
    ['target.port null', { target: { host: LOOPBACK, port: null } }, TypeError, /target\.port.*null/],
    ['target.port a string', { target: { host: LOOPBACK, port: '5432' } }, TypeError, /target\.port.*"5432"/],
    ['target.port NaN', { target: { host: LOOPBACK, port: Number.NaN } }, RangeError, /target\.port.*NaN/],
    [
      'target.port Infinity',
      { target: { host: LOOPBACK, port: Number.POSITIVE_INFINITY } },
      RangeError,
      /target\.port.*Infinity/,
    ],
    ['target.port negative', { target: { host: LOOPBACK, port: -1 } }, RangeError, /target\.port.*-1/],
    ['target.port fractional', { target: { host: LOOPBACK, port: 1.5 } }, RangeError, /target\.port.*1\.5/],
    ['unknown target key', { target: { ...target, hots: 'x' } }, TypeError, /unknown option "hots"/],
    ['listen null', { target, listen: null }, TypeError, /listen.*null/],
    ['listen.host null', { target, listen: { host: null } }, TypeError, /listen\.host.*null/],
    [
      'listen.host not loopback',
      { target, listen: { host: '10.0.0.1' } },
      RangeError,
      /listen\.host.*"10\.0\.0\.1"/,
    ],
    ['listen.port null', { target, listen: { port: null } }, TypeError, /listen\.port.*null/],
    ['listen.port NaN', { target, listen: { port: Number.NaN } }, RangeError, /listen\.port.*NaN/],
    ['listen.port negative', { target, listen: { port: -1 } }, RangeError, /listen\.port.*-1/],
  ] as const)(
    'start() with %s rejects, naming the option and the value',
    async (_, options, type, message) => {
      const started = FaultProxy.start(options as never);
      await expect(started).rejects.toThrow(type);
      await expect(started).rejects.toThrow(message);
    },
  );

  it.each([
    ['latency(null)', (p: FaultProxy) => p.latency(null as never), TypeError, /latency.*null/],
    ['latency("5")', (p: FaultProxy) => p.latency('5' as never), TypeError, /latency.*"5"/],
    ['latency(NaN)', (p: FaultProxy) => p.latency(Number.NaN), RangeError, /latency.*NaN/],
    [
      'latency(Infinity)',
      (p: FaultProxy) => p.latency(Number.POSITIVE_INFINITY),
      RangeError,
      /latency.*Infinity/,
    ],
    ['latency(-1)', (p: FaultProxy) => p.latency(-1), RangeError, /latency.*-1/],
    ['latency(3e9)', (p: FaultProxy) => p.latency(3e9), RangeError, /latency.*2147483647.*3000000000/],
    ['bandwidth(null)', (p: FaultProxy) => p.bandwidth(null as never), TypeError, /bandwidth.*null/],
    ['bandwidth("64")', (p: FaultProxy) => p.bandwidth('64' as never), TypeError, /bandwidth.*"64"/],
    ['bandwidth(NaN)', (p: FaultProxy) => p.bandwidth(Number.NaN), RangeError, /bandwidth.*NaN/],
    [
      'bandwidth(Infinity)',
      (p: FaultProxy) => p.bandwidth(Number.POSITIVE_INFINITY),
      RangeError,
      /bandwidth.*Infinity/,
    ],
    ['bandwidth(-1)', (p: FaultProxy) => p.bandwidth(-1), RangeError, /bandwidth.*-1/],
    [
      'bandwidth(Number.MIN_VALUE)',
      (p: FaultProxy) => p.bandwidth(Number.MIN_VALUE),
      RangeError,
      /bandwidth.*0\.1.*5e-324/,
    ],
    ['bandwidth(0.05)', (p: FaultProxy) => p.bandwidth(0.05), RangeError, /bandwidth.*0\.05/],
    ['a null direction', (p: FaultProxy) => p.latency(5, null as never), TypeError, /direction.*null/],
    ['a direction of 1', (p: FaultProxy) => p.bandwidth(64, 1 as never), TypeError, /direction.*1/],
  ] as const)(
    '%s throws, naming the argument and the value, and changes nothing',
    async (_, call, type, message) => {
      const proxy = await startProxy(1);
      expect(() => call(proxy)).toThrow(type);
      expect(() => call(proxy)).toThrow(message);
      expect(proxy.delayMs).toEqual({ upstream: 0, downstream: 0 });
      expect(proxy.rateKbps).toEqual({
        upstream: Number.POSITIVE_INFINITY,
        downstream: Number.POSITIVE_INFINITY,
      });
    },
  );

  it('takes the longest latency and the lowest bandwidth, and publishes both limits', async () => {
    expect(FaultProxy.MAX_LATENCY).toBe(2 ** 31 - 1);
    expect(FaultProxy.MIN_BANDWIDTH).toBe(0.1);
    const proxy = await startProxy(1);
    proxy.latency(FaultProxy.MAX_LATENCY, 'upstream').bandwidth(FaultProxy.MIN_BANDWIDTH, 'downstream');
    expect(proxy.delayMs).toEqual({ upstream: 2 ** 31 - 1, downstream: 0 });
    expect(proxy.rateKbps).toEqual({ upstream: Number.POSITIVE_INFINITY, downstream: 0.1 });
  });

  it('at the longest latency and the lowest bandwidth together, sets no timer Node would overflow', async () => {
    const warnings = captureWarnings();
    try {
      const echo = await startServer();
      const proxy = await startProxy(echo.port);
      const client = await TestClient.connect(proxy.port);
      // One byte waits MAX_LATENCY, then 80 ms on the wire: past Node's longest timer.
      proxy.latency(FaultProxy.MAX_LATENCY, 'upstream').bandwidth(FaultProxy.MIN_BANDWIDTH, 'upstream');
      client.socket.write('x');
      await sleep(150);
      expect(echo.received()).toBe(0); // an overflowing timer would have fired after 1 ms
      expect(proxy.stats.queued.upstream).toBe(1);
      expect(warnings.map((w) => w.name)).toEqual([]);
      proxy.heal();
      await until(() => client.length === 1, 'the byte after heal');
      expect(proxy.stats.queued).toEqual({ upstream: 0, downstream: 0 });
    } finally {
      warnings.stop();
    }
  });

  it('blackhole() stops reading an open connection at once: the sender feels back-pressure', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    const client = await TestClient.connect(proxy.port);
    await client.roundTrip('before', 6);
    proxy.blackhole();
    const payload = randomBytes(8 << 20);
    client.socket.write(payload);
    await sleep(300);
    // The proxy used to read on until it held 1 MiB (1,079,296 bytes measured); now it reads nothing more.
    expect(proxy.stats.queued.upstream).toBe(0);
    expect(echo.received()).toBe(6);
    expect(client.socket.writableLength).toBeGreaterThan(0); // what the kernel could not take stays with the client

    proxy.heal();
    await until(() => client.length === 6 + payload.length, 'the whole payload back', 10_000);
    expect(client.data().subarray(6).equals(payload)).toBe(true);
    expect(proxy.stats.queued).toEqual({ upstream: 0, downstream: 0 });
  });

  it('blackhole() holds a new connection’s bytes up to one read-ahead, and delivers them in order on heal()', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    proxy.blackhole();
    const client = await TestClient.connect(proxy.port);
    const payload = randomBytes(8 << 20);
    client.socket.write(payload);
    await sleep(300);
    expect(echo.accepted()).toBe(0);
    expect(proxy.stats.queued.upstream).toBeGreaterThan(0);
    expect(proxy.stats.queued.upstream).toBeLessThanOrEqual(128 << 10);
    expect(client.socket.writableLength).toBeGreaterThan(0);

    proxy.heal();
    await until(() => client.length === payload.length, 'the whole payload back', 10_000);
    expect(client.data().equals(payload)).toBe(true);
    expect(echo.accepted()).toBe(1);
  });

  it('a client that ends or closes during blackhole() is let go, and heal() never connects for it', async () => {
    const echo = await startServer();
    const proxy = await startProxy(echo.port);
    proxy.blackhole();
    const quitter = await TestClient.connect(proxy.port);
    quitter.socket.end('hello'); // ends its side, as a client whose connect timed out
    const closer = await TestClient.connect(proxy.port);
    closer.socket.destroy();
    await until(() => proxy.stats.connections.open === 0, 'the proxy to let both go');
    await until(() => quitter.closed, 'the quitter to be closed');
    expect(proxy.stats.queued).toEqual({ upstream: 0, downstream: 0 });

    proxy.heal();
    const fresh = await TestClient.connect(proxy.port);
    expect((await fresh.roundTrip('after', 5)).reply.toString()).toBe('after');
    expect(echo.accepted()).toBe(1); // the fresh client only
    expect(echo.received()).toBe(5);
  });

  it('resetConnections() closes a connection whose reply the proxy already ended, leaving nothing open', async () => {
    // The server answers and ends its side; the proxy ends its side toward the client, which libuv cannot reset.
    const greeter = await startServer((socket) => socket.end('hello'));
    const proxy = await startProxy(greeter.port);
    const client = await TestClient.connect(proxy.port);
    await until(() => client.ended, 'the greeting and its end');
    proxy.resetConnections();
    await until(() => client.closed, 'the client to close');
    expect(client.data().toString()).toBe('hello');
    expect(proxy.stats.connections.open).toBe(0);
    await until(() => greeter.sockets.size === 0, 'the server side to close');
  });

  it('accepts a target that is not loopback: only where it listens is restricted', async () => {
    // 192.0.2.1 (TEST-NET-1) is never routed; no client connects, so nothing leaves loopback.
    const proxy = await FaultProxy.start({ target: { host: '192.0.2.1', port: 9 } });
    proxies.push(proxy);
    expect(proxy.target).toEqual({ host: '192.0.2.1', port: 9 });
    expect(proxy.host).toBe(LOOPBACK);
  });
});

const PG = { user: 'postgres', database: 'postgres', connectionTimeoutMillis: 3_000 };

/** A pg client through the proxy, ended after the test; its 'error' events are recorded, not thrown. */
async function pgClient(proxy: FaultProxy): Promise<{ client: pg.Client; errors: Error[] }> {
  const client = new pg.Client({ ...PG, host: proxy.host, port: proxy.port });
  const errors: Error[] = [];
  client.on('error', (error) => errors.push(error));
  cleanups.push(() => client.end().catch(() => {}));
  await client.connect();
  return { client, errors };
}

/**
 * Runs a query that gives up when `signal` aborts. pg 8 takes no signal, but `end()` on a
 * client with a query in flight disconnects it at once, which fails the query.
 */
async function queryWithSignal(client: pg.Client, sql: string, signal: AbortSignal): Promise<pg.QueryResult> {
  const onAbort = () => void client.end().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await client.query(sql);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

describe.runIf(postgres)('FaultProxy in front of PostgreSQL (127.0.0.1:5432)', () => {
  it('passes queries and results through unchanged', async () => {
    const proxy = await startProxy(5432);
    const { client } = await pgClient(proxy);
    expect((await client.query('select 1 + 1 as n')).rows).toEqual([{ n: 2 }]);
    const big = await client.query<{ s: string; md5: string }>(
      "select repeat('breakwater', 20000) as s, md5(repeat('breakwater', 20000)) as md5",
    );
    const s = big.rows[0]!.s;
    expect(s).toHaveLength(200_000);
    expect(createHash('md5').update(s).digest('hex')).toBe(big.rows[0]!.md5);
    expect(proxy.stats.bytes.downstream).toBeGreaterThan(200_000);
    expect(proxy.stats.connections).toEqual({ accepted: 1, open: 1, refused: 0 });
  });

  it('blackhole() makes a query time out through timeout(), cooperatively, with a TimeoutError', async () => {
    const proxy = await startProxy(5432);
    const { client } = await pgClient(proxy);
    await client.query('select 1');
    proxy.blackhole();
    const start = performance.now();
    const error = await timeout(300)
      .execute(({ signal }) => queryWithSignal(client, 'select 1', signal))
      .catch((e: unknown) => e);
    const elapsed = performance.now() - start;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(error)).toBe(true);
    expect((error as TimeoutError).timeout).toBe(300);
    expect((error as TimeoutError).cause).toBeInstanceOf(Error); // pg's own "Connection terminated"
    expect(elapsed).toBeGreaterThanOrEqual(299);
    expect(elapsed).toBeLessThan(3_000);

    proxy.heal();
    const { client: next } = await pgClient(proxy);
    expect((await next.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
  });

  it('blackhole() with the aggressive strategy gives up without the query’s cooperation', async () => {
    const proxy = await startProxy(5432);
    const { client } = await pgClient(proxy);
    proxy.blackhole();
    const start = performance.now();
    await expect(
      timeout({ ms: 300, strategy: 'aggressive' }).execute(() => client.query('select 1')),
    ).rejects.toThrow(TimeoutError);
    expect(performance.now() - start).toBeGreaterThanOrEqual(299);
  });

  it('resetConnections() makes a query in flight fail with ECONNRESET', async () => {
    const proxy = await startProxy(5432);
    const { client, errors } = await pgClient(proxy);
    const query = client.query('select 1');
    proxy.resetConnections();
    await expect(query).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toContain('ECONNRESET');
    expect(proxy.stats.connections.open).toBe(0);
  });

  it('resets open a breaker after its threshold; after heal() and openTimeout its probe closes it', async () => {
    const proxy = await startProxy(5432);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 3, openTimeout: 5_000 });
    const transitions: string[] = [];
    breaker.on('stateChanged', ({ to }) => transitions.push(to));
    let failing = false;
    /** One query on a connection of its own; while failing, the network resets it in flight. */
    const query = async () => {
      const { client } = await pgClient(proxy);
      const pending = client.query<{ n: number }>('select 1 as n');
      if (failing) proxy.resetConnections();
      return (await pending).rows[0]!.n;
    };

    expect(await breaker.execute(query)).toBe(1);
    failing = true;
    for (let i = 0; i < 3; i++)
      await expect(breaker.execute(query)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(breaker.state).toBe('open');
    const accepted = proxy.stats.connections.accepted;
    await expect(breaker.execute(query)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(proxy.stats.connections.accepted).toBe(accepted); // rejected without touching the network

    failing = false;
    proxy.heal();
    clock.advance(4_999);
    await expect(breaker.execute(query)).rejects.toBeInstanceOf(BrokenCircuitError);
    clock.advance(1);
    expect(await breaker.execute(query)).toBe(1);
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half-open', 'closed']);
  });

  it('refuse() makes connecting fail with a reset, and the breaker opens on those failures too', async () => {
    const proxy = await startProxy(5432);
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, failureThreshold: 3, openTimeout: 1_000 });
    const query = async () => {
      const { client } = await pgClient(proxy);
      return (await client.query<{ n: number }>('select 3 as n')).rows[0]!.n;
    };
    proxy.refuse();
    for (let i = 0; i < 3; i++)
      await expect(breaker.execute(query)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(breaker.state).toBe('open');
    expect(proxy.stats.connections.refused).toBe(3);
    proxy.heal();
    clock.advance(1_000);
    expect(await breaker.execute(query)).toBe(3);
    expect(breaker.state).toBe('closed');
  });
});

/** Sends raw RESP on `client` and waits for `expected` back. */
async function resp(client: TestClient, command: string, expected: string): Promise<string> {
  return (await client.roundTrip(command, Buffer.byteLength(expected))).reply.toString();
}

describe.runIf(redis)('FaultProxy in front of Redis (127.0.0.1:6379), raw RESP', () => {
  it('passes PING and a large ECHO through byte for byte', async () => {
    const proxy = await startProxy(6379);
    const client = await TestClient.connect(proxy.port);
    expect(await resp(client, 'PING\r\n', '+PONG\r\n')).toBe('+PONG\r\n');
    const payload = randomBytes(50_000).toString('hex');
    const command = `*2\r\n$4\r\nECHO\r\n$${payload.length}\r\n${payload}\r\n`;
    const reply = `$${payload.length}\r\n${payload}\r\n`;
    expect(await resp(client, command, reply)).toBe(reply);
  });

  it('blackhole() leaves a PING unanswered; heal() delivers it', async () => {
    const proxy = await startProxy(6379);
    const client = await TestClient.connect(proxy.port);
    expect(await resp(client, 'PING\r\n', '+PONG\r\n')).toBe('+PONG\r\n');
    proxy.blackhole();
    client.socket.write('PING\r\n');
    await sleep(300);
    expect(client.length).toBe(7);
    proxy.heal();
    await until(() => client.length === 14, 'the PONG after heal');
    expect(client.data().toString()).toBe('+PONG\r\n+PONG\r\n');
  });

  it('resetConnections() makes the Redis client see ECONNRESET', async () => {
    const proxy = await startProxy(6379);
    const client = await TestClient.connect(proxy.port);
    await resp(client, 'PING\r\n', '+PONG\r\n');
    proxy.resetConnections();
    await until(() => client.closed, 'the client to close');
    expect(client.error?.code).toBe('ECONNRESET');
  });
});
