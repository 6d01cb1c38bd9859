import * as net from 'node:net';

/** The protocol's CancelRequest code: 1234 in the high 16 bits, 5678 in the low. */
const CANCEL_REQUEST_CODE = 80877102;

/** What a cancel request needs from a `pg` client: the backend's key, and where the server is. */
export interface CancelTarget {
  readonly processID?: unknown;
  readonly secretKey?: unknown;
  readonly host?: unknown;
  readonly port?: unknown;
}

/**
 * Sends PostgreSQL's cancel request for the backend that serves `client`: a new connection
 * to the client's host and port carrying only the backend's pid and secret key (no login,
 * no pool slot), which the server answers by cancelling that backend's running query,
 * as `pg_cancel_backend` would. Best effort: the connection is given up after `timeoutMs`
 * (through a partition it never gets through) and its errors are ignored, since the
 * caller has already been answered. Answers whether a request was started: not for a
 * client that exposes no backend key (`pg-native`, or one that never connected).
 */
export function sendCancelRequest(client: CancelTarget, timeoutMs: number): boolean {
  const { processID, secretKey, host, port } = client;
  if (!Number.isInteger(processID) || !Number.isInteger(secretKey) || !Number.isInteger(port)) return false;
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  packet.writeInt32BE(processID as number, 8);
  packet.writeInt32BE(secretKey as number, 12);
  // The same address `pg` connects to: a host that starts with '/' is a Unix socket directory.
  const socket =
    typeof host === 'string' && host.startsWith('/')
      ? net.connect(`${host}/.s.PGSQL.${port as number}`)
      : net.connect({ host: typeof host === 'string' ? host : 'localhost', port: port as number });
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.on('error', () => {});
  socket.once('close', () => clearTimeout(timer));
  // The server reads the 16 bytes, cancels, and closes: our end of it is done once written.
  socket.once('connect', () => socket.end(packet));
  return true;
}
