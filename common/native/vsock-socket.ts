// A connected AF_VSOCK stream and connect() (host → guest agent); see
// src/native/vsock.ts for the overview and the CID safety rule.

import { loadAddon, NativeHandle } from './addon';
import { errnoOf, VsockAddress, VsockError } from './errno';
import { FdStream } from './fd-stream';
import {
  argError,
  checkU32,
  createHandle,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_CONNECT_TIMEOUT_MS,
  E,
  pollError,
  VMADDR_CID_ANY,
  VMADDR_CID_HOST,
  VMADDR_CID_HYPERVISOR,
  VMADDR_CID_LOCAL,
  VMADDR_PORT_ANY,
  WRITABLE,
} from './vsock-common';

export interface ConnectOptions {
  /** Give up (ETIMEDOUT) after this long; default 5000 ms. */
  timeoutMs?: number;
  /**
   * Permit CID 0 (hypervisor) and CID 2 (host). Off by default: vmpod only
   * ever connects from the host to the guests it created, and this guard keeps
   * a bad CID from reaching whatever runs outside this machine.
   */
  allowHostCid?: boolean;
  /** Keep the event loop alive while this socket is open (default true). */
  ref?: boolean;
  allowHalfOpen?: boolean;
  /** Kernel receive buffer (SO_VM_SOCKETS_BUFFER_SIZE) in bytes; default 1 MiB, 0 = kernel default. */
  bufferSize?: number;
}

/** Validate a connect target; throws TypeError (ERR_INVALID_ARG_VALUE) on a bad or forbidden CID/port. */
export function checkConnectTarget(cid: unknown, port: unknown, allowHostCid = false): VsockAddress {
  const c = checkU32('cid', cid);
  const p = checkU32('port', port, VMADDR_PORT_ANY - 1);
  if (c === VMADDR_CID_ANY) throw argError('cid', 'VMADDR_CID_ANY is not a connect target');
  if ((c === VMADDR_CID_HOST || c === VMADDR_CID_HYPERVISOR) && !allowHostCid) {
    throw argError('cid', `${c} is the ${c === VMADDR_CID_HOST ? 'host' : 'hypervisor'}; refusing to connect without allowHostCid`);
  }
  return { cid: c, port: p };
}

/**
 * A connected AF_VSOCK stream. Reads are driven by readability events,
 * writes go straight to the kernel and, when it takes only part, the rest waits
 * for writability (so `write()` returning false means real backpressure).
 * `end()` shuts down the write side (SHUT_WR) after pending data is sent.
 */
export class VsockSocket extends FdStream {
  readonly remoteCid: number;
  readonly remotePort: number;
  readonly localCid: number;
  readonly localPort: number;

  /** @internal Adopts a connected handle; use connect() or a VsockServer. */
  constructor(handle: NativeHandle, remote: VsockAddress, opts: { allowHalfOpen?: boolean } = {}) {
    super(handle, {
      label: `vsock:${remote.cid}:${remote.port}`,
      shutdownOnEnd: true,
      // A full vsock transmit queue answers ENOBUFS rather than EAGAIN.
      fullErrnos: [E().ENOBUFS],
      closedErrno: errnoOf('EBADF'),
      allowHalfOpen: opts.allowHalfOpen ?? false,
      autoDestroy: true,
    });
    this.remoteCid = remote.cid;
    this.remotePort = remote.port;
    const local = handle.localAddress();
    this.localCid = typeof local === 'number' ? -1 : local.cid;
    this.localPort = typeof local === 'number' ? -1 : local.port;
  }

  /** Let the process exit while this socket is open. */
  unref(): this {
    this.handle?.setRef(false);
    return this;
  }

  ref(): this {
    this.handle?.setRef(true);
    return this;
  }

  private remote(): VsockAddress {
    return { cid: this.remoteCid, port: this.remotePort };
  }

  protected override error(errno: number, syscall: string): Error {
    return new VsockError(errno, syscall, this.remote());
  }

  // A socket that fails is done: say why (SO_ERROR when it has one), do not read on.
  protected override pollFailed(status: number): void {
    this.destroy(pollError(this.handle, status, 'read', this.remote()));
  }

  // Several queued chunks (e.g. a ttRPC header and its payload) go out in one
  // send: one syscall and, on vsock, one packet instead of many.
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', cb);
  }
}

/**
 * Connect to `cid:port`. Resolves with a connected socket; rejects with a
 * VsockError: ECONNREFUSED (nothing listens there), ETIMEDOUT, ENODEV (no
 * transport for that CID, e.g. no vhost-vsock or no vsock_loopback), ...
 */
export function connect(cid: number, port: number, opts: ConnectOptions = {}): Promise<VsockSocket> {
  let addr: VsockAddress;
  let timeoutMs: number;
  try {
    addr = checkConnectTarget(cid, port, opts.allowHostCid ?? false);
    timeoutMs = checkU32('timeoutMs', opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 0x7fffffff);
    checkU32('bufferSize', opts.bufferSize ?? 0);
  } catch (err) {
    return Promise.reject(err);
  }
  const e = E();
  return new Promise((resolve, reject) => {
    let h: NativeHandle;
    try {
      h = createHandle();
    } catch (err) {
      reject(err);
      return;
    }
    if (opts.ref === false) h.setRef(false);
    let timer: NodeJS.Timeout | undefined;
    const fail = (errno: number, syscall: string): void => {
      if (timer) clearTimeout(timer);
      h.onpoll = undefined;
      h.close();
      // virtio-vsock answers a connect to a port nobody listens on with a
      // reset, which Linux reports as ECONNRESET; callers (retry loops waiting
      // for an agent to come up) want the TCP meaning: ECONNREFUSED.
      if (errno === e.ECONNRESET && syscall === 'connect') errno = e.ECONNREFUSED;
      reject(new VsockError(errno, syscall, addr));
    };
    const succeed = (): void => {
      if (timer) clearTimeout(timer);
      h.onpoll = undefined;
      let sock: VsockSocket;
      try {
        sock = new VsockSocket(h, addr, { allowHalfOpen: opts.allowHalfOpen });
      } catch (err) {
        h.close();
        reject(err);
        return;
      }
      resolve(sock);
    };
    // The kernel times a non-blocking vsock connect itself (2 s by default);
    // set it to ours so it neither fires early nor lingers. Best effort.
    if (timeoutMs > 0) h.setConnectTimeout(timeoutMs);
    // Best effort too: a failure only costs throughput.
    const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (bufferSize > 0) h.setBufferSize(bufferSize);
    const r = h.connect(addr.cid, addr.port);
    if (r === 0) {
      succeed();
      return;
    }
    if (r !== e.EINPROGRESS && r !== e.EINTR) {
      fail(r, 'connect');
      return;
    }
    h.onpoll = (status) => {
      const soErr = h.socketError();
      if (status < 0 && soErr === 0) {
        fail(status, 'connect');
        return;
      }
      if (soErr < 0) fail(soErr, 'connect');
      else succeed();
    };
    const pr = h.poll(WRITABLE);
    if (pr < 0) {
      fail(pr, 'uv_poll');
      return;
    }
    timer = setTimeout(() => fail(e.ETIMEDOUT, 'connect'), timeoutMs);
    if (opts.ref === false) timer.unref();
  });
}

/**
 * Two connected VsockSockets over an AF_UNIX socketpair: the same stream code
 * as a real vsock connection, for tests on machines without a vsock transport.
 */
export function socketPairForTest(): [VsockSocket, VsockSocket] {
  const addon = loadAddon();
  const r = addon.socketPair();
  if (typeof r === 'number') throw new VsockError(r, 'socketpair');
  const fake = { cid: VMADDR_CID_LOCAL, port: 0 };
  return [new VsockSocket(new addon.Handle(r[0]), fake), new VsockSocket(new addon.Handle(r[1]), fake)];
}
