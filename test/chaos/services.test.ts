import * as net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { probe, requireService } from '../helpers/services.js';

/** A loopback port that nothing listens on (a server's, just closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('requireService (test helper)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('is true when the service accepts a connection', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      await expect(requireService('Test server', '127.0.0.1', port)).resolves.toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('outside CI: warns loudly, naming the service and why, and answers false', async () => {
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const port = await closedPort();
    await expect(requireService('Imaginary DB', '127.0.0.1', port)).resolves.toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(
      new RegExp(`SKIPPING.*Imaginary DB.*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`),
    );
  });

  it('under CI=true: fails instead of skipping', async () => {
    vi.stubEnv('CI', 'true');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const port = await closedPort();
    await expect(requireService('Imaginary DB', '127.0.0.1', port)).rejects.toThrow(
      /Imaginary DB is not reachable.*CI=true requires it/,
    );
    expect(warn).not.toHaveBeenCalled();
  });

  it('reaches servers on loopback only', async () => {
    await expect(requireService('Remote DB', '10.0.0.1', 5432)).rejects.toThrow(RangeError);
  });

  it('probe() tells why a port does not answer', async () => {
    expect(await probe('127.0.0.1', await closedPort())).toBe('ECONNREFUSED');
  });
});
