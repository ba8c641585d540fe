// Node-style system errors from the addon's -errno results, using Node's own
// errno table so that codes match what net.Socket would report.

import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

// libuv's table (getSystemErrorMap) lacks a few errnos (EINPROGRESS, ...);
// os.constants.errno has every name the platform defines.
const nameByErrno = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!nameByErrno.has(-n)) nameByErrno.set(-n, name);

export interface VsockAddress {
  cid: number;
  port: number;
}

/** A failed syscall: `code` is the errno name (ENOENT, ...), as on Node's own system errors. */
export class SyscallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(errno: number, syscall: string, detail = '', code?: string) {
    const [name, text] = getSystemErrorMap().get(errno) ?? [nameByErrno.get(errno) ?? `errno ${-errno}`, 'system error'];
    const c = code ?? name;
    super(`${syscall} ${c} (${text})${detail ? ` ${detail}` : ''}`);
    this.name = 'SyscallError';
    this.code = c;
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** A failed syscall on a vsock socket. */
export class VsockError extends SyscallError {
  readonly cid?: number;
  readonly port?: number;
  constructor(errno: number, syscall: string, address?: VsockAddress, code?: string) {
    super(errno, syscall, address ? `vsock:${address.cid}:${address.port}` : '', code);
    this.name = 'VsockError';
    if (address) {
      this.cid = address.cid;
      this.port = address.port;
    }
  }
}

/** -errno for a code name (e.g. 'EAGAIN' → -11 on Linux). */
export function errnoOf(name: string): number {
  const n = (constants.errno as Record<string, number | undefined>)[name];
  if (n === undefined) throw new Error(`unknown errno name ${name}`);
  return -n;
}
