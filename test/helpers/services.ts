import * as net from 'node:net';

/** Servers used by tests are reached on loopback only. */
function isLoopback(host: string): boolean {
  return host === '::1' || (net.isIP(host) === 4 && host.startsWith('127.'));
}

/** Why `host:port` does not accept a TCP connection within `timeoutMs`, or undefined when it does. */
export function probe(host: string, port: number, timeoutMs = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

/**
 * Whether the tests that need a service can run: true when `host:port` accepts a TCP
 * connection. When it does not, the tests are skipped with a loud warning; under
 * `CI=true` a missing service is a failure instead (this rejects), so that CI never
 * passes by skipping. Meant for top-level await beside `describe.runIf`:
 *
 * @example
 * ```ts
 * const postgres = await requireService('PostgreSQL', '127.0.0.1', 5432);
 * describe.runIf(postgres)('through PostgreSQL', () => { ... });
 * ```
 */
export async function requireService(
  name: string,
  host: string,
  port: number,
  timeoutMs = 1_000,
): Promise<boolean> {
  if (!isLoopback(host)) {
    throw new RangeError(`${name}: tests reach servers on loopback only, got host ${JSON.stringify(host)}`);
  }
  const reason = await probe(host, port, timeoutMs);
  if (reason === undefined) return true;
  const what = `${name} is not reachable at ${host}:${port} (${reason})`;
  if (process.env.CI === 'true') {
    throw new Error(`${what}: CI=true requires it, so its tests fail instead of being skipped`);
  }
  console.warn(
    `\n!!! SKIPPING the ${name} tests: ${what}.\n!!! Start ${name} on ${host}:${port} to run them; under CI=true they fail instead.\n`,
  );
  return false;
}
