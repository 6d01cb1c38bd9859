import * as net from 'node:net';
import { isIP } from 'node:net';
import * as v from '../validate.js';

/** Which way a fault applies: toward the target (`upstream`), back to the client (`downstream`), or both. */
export type Direction = 'upstream' | 'downstream' | 'both';

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /**
   * The server to forward to; the proxy never connects anywhere else. Any host is accepted
   * (a container, a staging database), not only loopback: the proxy itself listens on
   * loopback only, so it lets no one reach the target who could not reach it directly.
   */
  target: {
    /** The target's host name or IP address. */
    host: string;
    /** The target's TCP port, in [1, 65535]. */
    port: number;
  };
  /**
   * Where to listen: a loopback address only.
   * @default { host: '127.0.0.1', port: 0 } (a free port)
   */
  listen?: {
    /**
     * `localhost`, `::1` or an address in 127.0.0.0/8; anything else is a RangeError.
     * @default '127.0.0.1'
     */
    host?: string;
    /**
     * A TCP port in [0, 65535]; 0 takes a free one (read it from {@link FaultProxy.port}).
     * @default 0
     */
    port?: number;
  };
}

/** Counters of a {@link FaultProxy}, since it started. */
export interface FaultProxyStats {
  /** Connections accepted, open now, and refused by `refuse()`. */
  readonly connections: {
    /** Connections accepted from clients, refused ones included. */
    readonly accepted: number;
    /** Connections open now. */
    readonly open: number;
    /** Connections closed with a reset on arrival because `refuse()` was in force. */
    readonly refused: number;
  };
  /** Bytes forwarded to the target (`upstream`) and back to clients (`downstream`). */
  readonly bytes: {
    /** Bytes forwarded from clients to the target. */
    readonly upstream: number;
    /** Bytes forwarded from the target back to clients. */
    readonly downstream: number;
  };
  /** Bytes read and not yet forwarded, held back by a latency, a bandwidth limit or a partition. */
  readonly queued: {
    /** Bytes from clients waiting to reach the target. */
    readonly upstream: number;
    /** Bytes from the target waiting to reach clients. */
    readonly downstream: number;
  };
}

/** Past this many bytes held in one direction of a connection, the proxy stops reading from the sender. */
const HIGH_WATER = 1 << 20;

/** Node's longest timer (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms instead. */
const MAX_LATENCY = 2 ** 31 - 1;

/** 100 bit/s: 12.5 bytes a second, one byte every 80 ms. Slower than that, use `blackhole()`. */
const MIN_BANDWIDTH = 0.1;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * A TCP proxy on loopback that injects real network faults between a client and a
 * server (PostgreSQL, Redis, HTTP): latency, bandwidth limits, a silent partition,
 * connection resets and refusals. Needs no root. Its timers are real, since what it
 * delays is real network traffic.
 *
 * @example
 * ```ts
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 5432 } });
 * const pool = new pg.Pool({ host: proxy.host, port: proxy.port });
 * proxy.blackhole();          // queries now hang until their timeout
 * proxy.heal();
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  /** The longest `latency()`, in ms: 2^31 - 1 (about 24.8 days), Node's longest timer. */
  static readonly MAX_LATENCY = MAX_LATENCY;
  /** The lowest `bandwidth()`, in kbit/s: 0.1 (100 bit/s). */
  static readonly MIN_BANDWIDTH = MIN_BANDWIDTH;
  /** The loopback address the proxy listens on. */
  readonly host: string;
  /** The port the proxy listens on. */
  readonly port: number;
  /** The server the proxy forwards to, as validated from {@link FaultProxyOptions.target}. */
  readonly target: {
    /** The target's host name or IP address. */
    readonly host: string;
    /** The target's TCP port. */
    readonly port: number;
  };
  /** @internal */ readonly delayMs = { upstream: 0, downstream: 0 };
  /** @internal kbit/s, or Infinity for no limit. */ readonly rateKbps = {
    upstream: Number.POSITIVE_INFINITY,
    downstream: Number.POSITIVE_INFINITY,
  };
  /** @internal */ held = false;
  private refusing = false;
  private readonly server: net.Server;
  private readonly connections = new Set<ProxiedConnection>();
  private accepted = 0;
  private refused = 0;
  /** @internal */ readonly bytes = { upstream: 0, downstream: 0 };
  /** @internal */ readonly queued = { upstream: 0, downstream: 0 };

  private constructor(
    server: net.Server,
    host: string,
    port: number,
    target: { host: string; port: number },
  ) {
    this.server = server;
    this.host = host;
    this.port = port;
    this.target = target;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a proxy listening on loopback (a free port unless one is given). */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    v.knownKeys('FaultProxy', v.object('FaultProxy options', options), ['target', 'listen']);
    const t = v.object('target', options.target);
    v.knownKeys('FaultProxy target', t, ['host', 'port']);
    const target = { host: v.string('target.host', t.host), port: tcpPort('target.port', t.port, 1) };
    const listen = options.listen === undefined ? {} : v.object('listen', options.listen);
    v.knownKeys('FaultProxy listen', listen, ['host', 'port']);
    const host = listen.host === undefined ? '127.0.0.1' : v.string('listen.host', listen.host);
    if (!isLoopback(host))
      throw new RangeError(`listen.host must be a loopback address, got ${v.show(host)}`);
    const port = listen.port === undefined ? 0 : tcpPort('listen.port', listen.port, 0);
    // Half-open sockets on both sides, so that a client that ends its side still gets the whole reply.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    return new FaultProxy(server, address.address, address.port, target);
  }

  /** `host:port`, to put in a connection string. */
  get address(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /**
   * Delays every chunk by `ms` in the given direction(s): at most {@link FaultProxy.MAX_LATENCY}
   * (2^31 - 1 ms, about 24.8 days), the longest timer Node can set.
   */
  latency(ms: number, direction: Direction = 'both'): this {
    v.milliseconds('latency', ms);
    if (ms > MAX_LATENCY) {
      throw new RangeError(
        `latency must be at most ${MAX_LATENCY} ms (Node's longest timer), got ${v.show(ms)}`,
      );
    }
    for (const d of directions(direction)) this.delayMs[d] = ms;
    return this;
  }

  /**
   * Limits throughput to `kbps` kilobits per second in the given direction(s): at least
   * {@link FaultProxy.MIN_BANDWIDTH} (0.1, i.e. 100 bit/s); for a link that carries nothing, use `blackhole()`.
   */
  bandwidth(kbps: number, direction: Direction = 'both'): this {
    if (typeof kbps !== 'number') {
      throw new TypeError(`bandwidth must be a number of kbit/s >= ${MIN_BANDWIDTH}, got ${v.show(kbps)}`);
    }
    if (!Number.isFinite(kbps) || kbps < MIN_BANDWIDTH) {
      throw new RangeError(
        `bandwidth must be a finite number of kbit/s >= ${MIN_BANDWIDTH}, got ${v.show(kbps)}`,
      );
    }
    for (const d of directions(direction)) this.rateKbps[d] = kbps;
    return this;
  }

  /**
   * A silent partition: connections are accepted and nothing is answered or forwarded,
   * so clients hang until their own timeout. The proxy stops reading at once, so the
   * senders feel back-pressure as through a real partition. Traffic is held, not dropped,
   * as TCP would retransmit it: after `heal()` it flows again, unless a side gave up
   * meanwhile. A connection accepted during the partition reaches the target only on
   * `heal()`, and never if the client ends or closes it first (a connect timeout).
   */
  blackhole(): this {
    this.held = true;
    for (const connection of this.connections) connection.hold();
    return this;
  }

  /** New connections are closed with a reset at once; open ones are left alone. */
  refuse(): this {
    this.refusing = true;
    return this;
  }

  /**
   * Drops every open connection with a TCP reset (clients see ECONNRESET). A socket whose
   * sending side the proxy has already ended (the other side closed first) cannot be reset,
   * so it is closed instead.
   */
  resetConnections(): this {
    for (const connection of this.connections) connection.reset();
    return this;
  }

  /**
   * Restores plain pass-through: no latency, bandwidth limit, partition or refusal. Bytes
   * held back by any of them leave at once, in order.
   */
  heal(): this {
    this.delayMs.upstream = this.delayMs.downstream = 0;
    this.rateKbps.upstream = this.rateKbps.downstream = Number.POSITIVE_INFINITY;
    this.refusing = false;
    this.held = false;
    for (const connection of this.connections) connection.release();
    return this;
  }

  /** A fresh copy of the counters since the proxy started, for asserting what a test sent. */
  get stats(): FaultProxyStats {
    return {
      connections: { accepted: this.accepted, open: this.connections.size, refused: this.refused },
      bytes: { upstream: this.bytes.upstream, downstream: this.bytes.downstream },
      queued: { upstream: this.queued.upstream, downstream: this.queued.downstream },
    };
  }

  /** Stops listening and destroys every open connection. */
  async close(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Same as {@link close}, for `await using proxy = await FaultProxy.start(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.refusing) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const connection = new ProxiedConnection(this, client, () => this.connections.delete(connection));
    this.connections.add(connection);
  }
}

function tcpPort(name: string, value: unknown, min: number): number {
  const port = v.integer(name, value, min);
  if (port > 65535) throw new RangeError(`${name} must be an integer in [${min}, 65535], got ${port}`);
  return port;
}

function directions(direction: Direction): ReadonlyArray<'upstream' | 'downstream'> {
  if (direction === 'both') return ['upstream', 'downstream'];
  if (direction === 'upstream' || direction === 'downstream') return [direction];
  throw new TypeError(`direction must be "upstream", "downstream" or "both", got ${v.show(direction)}`);
}

/**
 * Closes `socket` with a TCP reset where libuv allows one. libuv refuses to reset a socket
 * whose sending side was shut down (after `end()`, EINVAL), and Node then never closes its
 * handle: the socket stays open and keeps the process alive. Such a socket is closed instead.
 */
function abort(socket: net.Socket): void {
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** One client connection and its connection to the target. */
class ProxiedConnection {
  private upstream: net.Socket | undefined;
  private up: Link | undefined;
  private down: Link | undefined;
  /** What the client sent while a partition kept its connection from reaching the target. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private closed = false;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly client: net.Socket,
    private readonly onClose: () => void,
  ) {
    client.setNoDelay(true);
    client.on('error', () => this.reset());
    client.on('close', () => this.sideClosed());
    if (proxy.held) {
      // Read, a little, rather than pause: only a read shows the client's FIN, which tells that it gave up.
      client.on('data', this.onEarlyData);
      client.on('end', this.onEarlyEnd);
    } else {
      this.connect();
    }
  }

  private readonly onEarlyData = (chunk: Buffer): void => {
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    this.proxy.queued.upstream += chunk.length;
    if (this.earlyBytes >= this.client.readableHighWaterMark) this.client.pause();
  };

  /**
   * A client that ends its side before the partition heals has given up (a connect timeout):
   * through a real partition its connection would never have reached the target, so here it never does.
   */
  private readonly onEarlyEnd = (): void => this.destroy();

  /** Connects to the target once the path is open (at once, or on heal after a partition). */
  private connect(): void {
    this.client.off('data', this.onEarlyData);
    this.client.off('end', this.onEarlyEnd);
    const early = this.early;
    this.proxy.queued.upstream -= this.earlyBytes;
    this.early = [];
    this.earlyBytes = 0;
    const upstream = net.connect({
      host: this.proxy.target.host,
      port: this.proxy.target.port,
      noDelay: true,
      allowHalfOpen: true,
    });
    this.upstream = upstream;
    upstream.on('error', () => this.reset());
    upstream.on('close', () => this.sideClosed());
    this.up = new Link(this.proxy, this.client, upstream, 'upstream', early);
    this.down = new Link(this.proxy, upstream, this.client, 'downstream');
  }

  /** A partition began: stop reading from both sides. */
  hold(): void {
    this.up?.flow();
    this.down?.flow();
  }

  release(): void {
    if (this.closed) return;
    if (this.upstream === undefined) {
      this.connect();
    } else {
      this.up?.release();
      this.down?.release();
    }
  }

  reset(): void {
    if (this.closed) return;
    abort(this.client);
    if (this.upstream !== undefined) abort(this.upstream);
    this.destroy();
  }

  /**
   * A socket closes once both of its halves are done (each side ended, and every byte
   * queued toward it written), so the connection is over when both have closed. A client
   * that closes before a partition heals never had an upstream socket.
   */
  private sideClosed(): void {
    if (this.client.destroyed && (this.upstream === undefined || this.upstream.destroyed)) this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.proxy.queued.upstream -= this.earlyBytes;
    this.early = [];
    this.earlyBytes = 0;
    this.up?.stop();
    this.down?.stop();
    this.client.destroy();
    this.upstream?.destroy();
    this.onClose();
  }
}

/** A chunk on its way: `due` once its latency has passed, `sendAt` once it reached the head of the queue. */
interface Pending {
  chunk: Buffer;
  due: number;
  sendAt: number | undefined;
}

/** One direction of a connection: chunks queue with their due time and leave in order. */
class Link {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  /** When the bandwidth-limited link has finished carrying what it was given. */
  private nextFree = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private waitingForDrain = false;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly source: net.Socket,
    private readonly sink: net.Socket,
    private readonly direction: 'upstream' | 'downstream',
    early: readonly Buffer[] = [],
  ) {
    for (const chunk of early) this.enqueue(chunk);
    source.on('data', (chunk: Buffer) => {
      this.enqueue(chunk);
      this.pump();
    });
    source.on('end', () => {
      this.ended = true;
      this.pump();
    });
    sink.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
    this.flow();
    this.pump();
  }

  private enqueue(chunk: Buffer): void {
    this.queue.push({ chunk, due: Date.now() + this.proxy.delayMs[this.direction], sendAt: undefined });
    this.queuedBytes += chunk.length;
    this.proxy.queued[this.direction] += chunk.length;
    if (this.proxy.held || this.queuedBytes > HIGH_WATER) this.source.pause();
  }

  /**
   * Reads from the source only while the path is open and it holds less than HIGH_WATER:
   * during a partition the sender's own buffers fill, as they would with no proxy reading.
   */
  flow(): void {
    if (this.proxy.held || this.queuedBytes > HIGH_WATER) this.source.pause();
    else this.source.resume();
  }

  pump(): void {
    if (this.proxy.held || this.waitingForDrain || this.timer !== undefined || this.sink.destroyed) return;
    while (this.queue.length > 0) {
      const now = Date.now();
      const item = this.queue[0]!;
      item.sendAt ??= this.schedule(item, now);
      const sendAt = item.sendAt;
      if (sendAt > now) {
        // The longest latency plus a slice's time on the wire exceeds Node's longest timer, which
        // would then fire after 1 ms: wait in steps instead.
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.pump();
          },
          Math.min(sendAt - now, MAX_LATENCY),
        );
        return;
      }
      this.queue.shift();
      this.queuedBytes -= item.chunk.length;
      this.proxy.queued[this.direction] -= item.chunk.length;
      this.proxy.bytes[this.direction] += item.chunk.length;
      if (this.queuedBytes <= HIGH_WATER && this.source.isPaused()) this.flow();
      if (!this.sink.write(item.chunk)) {
        this.waitingForDrain = true;
        return;
      }
    }
    if (this.ended) this.sink.end();
  }

  /**
   * When the chunk at the head of the queue may leave: once its latency has passed and,
   * under a bandwidth limit, once the link has carried it (its bits at `kbps`, after the
   * chunks before it), so that even a single chunk takes its time. A large chunk is cut
   * into slices of about 100 ms each, so that it trickles out instead of arriving whole.
   */
  private schedule(item: Pending, now: number): number {
    const kbps = this.proxy.rateKbps[this.direction];
    if (kbps === Number.POSITIVE_INFINITY) return item.due;
    const slice = Math.max(1, Math.floor(kbps * 12.5)); // 1 kbit/s carries 125 bytes a second
    if (item.chunk.length > slice) {
      this.queue.splice(1, 0, { chunk: item.chunk.subarray(slice), due: item.due, sendAt: undefined });
      item.chunk = item.chunk.subarray(0, slice);
    }
    this.nextFree = Math.max(now, item.due, this.nextFree) + (item.chunk.length * 8) / kbps;
    return this.nextFree;
  }

  /** After `heal()`: what was queued under a latency or bandwidth limit leaves at once, in order. */
  release(): void {
    for (const item of this.queue) {
      item.due = 0;
      item.sendAt = undefined;
    }
    this.nextFree = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flow();
    this.pump();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.proxy.queued[this.direction] -= this.queuedBytes;
    this.queuedBytes = 0;
    this.queue.length = 0;
  }
}
