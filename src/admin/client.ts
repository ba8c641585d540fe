// The CLI's side of the admin socket: one request, one answer. A connect
// refused for permissions (the socket is root's, 0600) or a daemon that is
// not there is told in words, not as an errno.

import { dirname, join } from 'node:path';
import { connect } from 'node:net';
import { encodeRequest, parseResponse, type AdminRequest, type AdminResponse } from './protocol';

export const ADMIN_SOCKET_NAME = 'vmpod-admin.sock';
/** Longer than the daemon's longest answer (an agent log read is bounded at 10 s). */
const ANSWER_TIMEOUT_MS = 30_000;
/** An answer is at most a 1 MiB console tail or agent log, JSON-escaped. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** The admin socket sits next to the CRI socket. */
export function adminSocketPath(criSocket: string): string {
  return join(dirname(criSocket), ADMIN_SOCKET_NAME);
}

export class AdminClientError extends Error {}

/** Why a connect failed, for an operator. Pure. */
export function connectProblem(path: string, code: string | undefined, message: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied on the admin socket ${path}: only root may use the vmpod debug commands`;
    case 'ENOENT':
    case 'ECONNREFUSED':
      return `no vmpod daemon answers on ${path}: is vmpod serving, with this --listen or --config?`;
    default:
      return `cannot reach the admin socket ${path}: ${message}`;
  }
}

export function adminCall(path: string, req: AdminRequest): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    let connected = false;
    const fail = (msg: string) => {
      sock.destroy();
      reject(new AdminClientError(msg));
    };
    sock.setEncoding('utf8');
    sock.setTimeout(ANSWER_TIMEOUT_MS, () => fail(`the daemon did not answer on ${path} within ${ANSWER_TIMEOUT_MS / 1000} s`));
    sock.once('connect', () => {
      connected = true;
      sock.write(encodeRequest(req));
    });
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_ANSWER_BYTES) fail(`the answer on ${path} is larger than ${MAX_ANSWER_BYTES} bytes`);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) fail(connectProblem(path, err.code, err.message));
      else fail(`the admin connection to ${path} failed: ${err.message}`);
    });
    sock.once('end', () => {
      sock.destroy();
      const line = buf.split('\n')[0];
      try {
        resolve(parseResponse(line));
      } catch (err) {
        reject(new AdminClientError(line === '' ? `the daemon closed ${path} without an answer` : (err as Error).message));
      }
    });
  });
}
