import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import type { HealthMonitor } from '../../src/index.js';

/**
 * Collects process warnings for each test of a file (a throwing listener is reported as one),
 * holding back Node's own printer meanwhile so the test output stays clean. Node warns on the
 * next tick, so read `warnings` after an `await`.
 */
export function collectWarnings(): Error[] {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  let held: ((warning: Error) => void)[] = [];
  beforeEach(() => {
    warnings.length = 0;
    held = process.listeners('warning');
    for (const listener of held) process.off('warning', listener);
    process.on('warning', onWarning);
  });
  afterEach(async () => {
    await nextTick(); // a warning of the test's last moment is still this test's
    process.off('warning', onWarning);
    for (const listener of held) process.on('warning', listener);
  });
  return warnings;
}

/** Lets Node deliver warnings emitted so far (they go out on the next tick). */
export function nextTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/** Serves `health.handler()` on a loopback port for one request and returns the answer. */
export async function request(health: HealthMonitor, method = 'GET'): Promise<Answer> {
  const server = http.createServer(health.handler()).listen(0, '127.0.0.1');
  try {
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      method,
      signal: AbortSignal.timeout(5_000),
    });
    return { status: response.status, headers: response.headers, body: await response.text() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

export interface Recorded {
  status: number;
  headers: Record<string, string | number>;
  body: string | undefined;
}

/**
 * Calls `health.handler()` with a stand-in response, for tests that must move a ManualClock
 * while the request is in flight; resolves when the handler ends the response.
 */
export function callHandler(health: HealthMonitor, method = 'GET'): Promise<Recorded> {
  return new Promise((resolve, reject) => {
    const recorded: Recorded = { status: 0, headers: {}, body: undefined };
    const response = {
      writeHead(status: number, headers: Record<string, string | number>) {
        recorded.status = status;
        recorded.headers = headers;
        return response;
      },
      end(body?: string) {
        recorded.body = body;
        resolve(recorded);
      },
      destroy() {
        reject(new Error('response destroyed'));
      },
    };
    health.handler()({ method } as never, response as never);
  });
}
