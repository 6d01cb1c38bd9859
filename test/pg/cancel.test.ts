import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendCancelRequest } from '../../src/pg/cancel.js';
import { sleep, sockets, until, watchTimers } from './helpers.js';

const servers: net.Server[] = [];
const accepted: net.Socket[] = [];

afterEach(async () => {
  // A half-open connection would keep its server from closing.
  for (const socket of accepted.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A loopback server that records what each connection sends, and closes it after reading (as PostgreSQL does) or never answers. */
async function server(
  behaviour: 'close' | 'silent',
): Promise<{ port: number; received: Promise<Buffer>; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  let deliver!: (data: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => {
    deliver = resolve;
  });
  // Half-open, a silent server does not even answer the client's FIN with its own.
  const s = net.createServer({ allowHalfOpen: behaviour === 'silent' }, (socket) => {
    sockets.push(socket);
    accepted.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const data = Buffer.concat(chunks);
      if (data.length >= 16) {
        deliver(data);
        if (behaviour === 'close') socket.destroy();
      }
    });
    socket.on('error', () => {});
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as net.AddressInfo).port, received, sockets };
}

describe('sendCancelRequest', () => {
  it("sends PostgreSQL's CancelRequest: length 16, code 80877102, the pid and the secret key", async () => {
    const { port, received } = await server('close');
    expect(
      sendCancelRequest({ processID: 4242, secretKey: -123456789, host: '127.0.0.1', port }, 1_000),
    ).toBe(true);
    const data = await received;
    expect(data).toHaveLength(16);
    expect([data.readInt32BE(0), data.readInt32BE(4), data.readInt32BE(8), data.readInt32BE(12)]).toEqual([
      16, 80877102, 4242, -123456789,
    ]);
  });

  it('clears its timer when the server closes the connection', async () => {
    const { port, received } = await server('close');
    const timers = watchTimers();
    try {
      sendCancelRequest({ processID: 1, secretKey: 2, host: '127.0.0.1', port }, 60_000);
      expect(timers.pending()).toBe(1);
      await received;
      await until('the timer cleared', () => timers.pending() === 0, 1_000);
    } finally {
      timers.stop();
    }
  });

  it('gives up on a server that never closes after timeoutMs, closing its socket', async () => {
    const { port, received } = await server('silent');
    const before = sockets();
    const started = performance.now();
    sendCancelRequest({ processID: 1, secretKey: 2, host: '127.0.0.1', port }, 150);
    await received;
    expect(sockets()).toBe(before + 2); // ours, and the server's end of it
    await until('our socket closed', () => sockets() === before + 1, 2_000);
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(1_000);
  });

  it('sends nothing for a client with no backend key (never connected, or pg-native)', () => {
    expect(sendCancelRequest({ processID: null, secretKey: null, host: '127.0.0.1', port: 5432 }, 100)).toBe(
      false,
    );
    expect(sendCancelRequest({}, 100)).toBe(false);
  });

  it('ignores a refused connection: the query has already been answered', async () => {
    const { port } = await server('close');
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      expect(sendCancelRequest({ processID: 1, secretKey: 2, host: '127.0.0.1', port }, 1_000)).toBe(true);
      await sleep(100);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]); // and no uncaught 'error' event, which would fail this test file
  });
});
