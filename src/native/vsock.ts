// AF_VSOCK sockets as Node streams, on top of the vsock.node addon's
// non-blocking syscalls and uv_poll readiness events (see native/vsock/vsock.cc
// for why net.Socket cannot take an AF_VSOCK fd).
//
//   connect(cid, port, { timeoutMs })  → Promise<VsockSocket>   (host → guest agent)
//   listen(port, { cid })              → VsockServer            (agent in the guest)
//
// Safety rule of this project: never open a connection to the host (CID 2) or
// the hypervisor (CID 0); connect() refuses both unless `allowHostCid` is set.
// The host daemon only connects to CIDs it assigned to its own VMs.

import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { loadAddon, NativeAddon, NativeHandle } from './addon';
import { errnoOf, VsockAddress, VsockError } from './errno';

export { VsockError, VsockAddress };

export const VMADDR_CID_ANY = 0xffffffff;
export const VMADDR_CID_HYPERVISOR = 0;
export const VMADDR_CID_LOCAL = 1;
export const VMADDR_CID_HOST = 2;
export const VMADDR_PORT_ANY = 0xffffffff;

const READABLE = 1; // UV_READABLE
const WRITABLE = 2; // UV_WRITABLE
const SHUT_WR = 1;
const READ_CHUNK = 64 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
// The kernel's default vsock receive buffer is 256 KiB; 1 MiB doubled bulk
// throughput over vsock_loopback under TCG (8 → 17 MiB/s, 32 MiB transfer).
// It is a credit limit, not an allocation: memory is used only by data the
// reader has not consumed yet.
const DEFAULT_BUFFER_SIZE = 1 << 20;

let errnos: { EAGAIN: number; EINPROGRESS: number; ECONNRESET: number; ECONNREFUSED: number; ETIMEDOUT: number; ENOTCONN: number; ECONNABORTED: number; EINTR: number; EMFILE: number; ENFILE: number; ENOBUFS: number; ENOMEM: number } | undefined;
function E(): NonNullable<typeof errnos> {
  errnos ??= {
    EAGAIN: errnoOf('EAGAIN'),
    EINPROGRESS: errnoOf('EINPROGRESS'),
    ECONNRESET: errnoOf('ECONNRESET'),
    ECONNREFUSED: errnoOf('ECONNREFUSED'),
    ETIMEDOUT: errnoOf('ETIMEDOUT'),
    ENOTCONN: errnoOf('ENOTCONN'),
    ECONNABORTED: errnoOf('ECONNABORTED'),
    EINTR: errnoOf('EINTR'),
    EMFILE: errnoOf('EMFILE'),
    ENFILE: errnoOf('ENFILE'),
    ENOBUFS: errnoOf('ENOBUFS'),
    ENOMEM: errnoOf('ENOMEM'),
  };
  return errnos;
}

function argError(name: string, problem: string): TypeError {
  const e = new TypeError(`vsock: ${name} ${problem}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

function checkU32(name: string, v: unknown, max = 0xffffffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw argError(name, `must be an integer in 0..${max}, got ${String(v)}`);
  }
  return v;
}

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
 * The error behind a failed poll. libuv reports EPOLLERR to a uv_poll callback
 * as UV_EBADF and stops the handle; the real cause (ECONNRESET, ...) is the
 * socket's pending SO_ERROR.
 */
function pollError(h: NativeHandle | undefined, status: number, syscall: string, addr?: VsockAddress): VsockError {
  const soErr = h ? h.socketError() : 0;
  return soErr < 0 ? new VsockError(soErr, syscall, addr) : new VsockError(status, 'uv_poll', addr);
}

/** A new non-blocking AF_VSOCK handle; throws VsockError (e.g. EAFNOSUPPORT) when the kernel has no vsock. */
export function createHandle(addon: NativeAddon = loadAddon()): NativeHandle {
  const fd = addon.socket();
  if (fd < 0) throw new VsockError(fd, 'socket');
  return new addon.Handle(fd);
}

/**
 * A connected AF_VSOCK stream. Reads are driven by readability events,
 * writes go straight to the kernel and, when it takes only part, the rest waits
 * for writability (so `write()` returning false means real backpressure).
 * `end()` shuts down the write side (SHUT_WR) after pending data is sent.
 */
export class VsockSocket extends Duplex {
  readonly remoteCid: number;
  readonly remotePort: number;
  readonly localCid: number;
  readonly localPort: number;
  bytesRead = 0;
  bytesWritten = 0;
  private handle: NativeHandle | undefined;
  private interest = 0;
  private wantRead = false;
  private pending: { buf: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private scratch: Buffer | undefined;

  /** @internal Adopts a connected handle; use connect() or a VsockServer. */
  constructor(handle: NativeHandle, remote: VsockAddress, opts: { allowHalfOpen?: boolean } = {}) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? false, decodeStrings: true, emitClose: true, autoDestroy: true });
    this.handle = handle;
    this.remoteCid = remote.cid;
    this.remotePort = remote.port;
    const local = handle.localAddress();
    this.localCid = typeof local === 'number' ? -1 : local.cid;
    this.localPort = typeof local === 'number' ? -1 : local.port;
    handle.onpoll = (status, events) => this.onPoll(status, events);
  }

  get fd(): number {
    return this.handle?.fd ?? -1;
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

  private setInterest(): void {
    const h = this.handle;
    if (!h) return;
    const want = (this.wantRead ? READABLE : 0) | (this.pending ? WRITABLE : 0);
    if (want === this.interest) return;
    const r = h.poll(want);
    if (r < 0) {
      this.destroy(new VsockError(r, 'uv_poll', this.remote()));
      return;
    }
    this.interest = want;
  }

  private remote(): VsockAddress {
    return { cid: this.remoteCid, port: this.remotePort };
  }

  private onPoll(status: number, events: number): void {
    if (status < 0) {
      this.destroy(pollError(this.handle, status, 'read', this.remote()));
      return;
    }
    if (events & WRITABLE && this.pending) this.flushPending();
    if (events & READABLE && this.wantRead) this.readLoop();
  }

  override _read(): void {
    if (!this.handle) return;
    this.wantRead = true;
    // Try at once: data may already be queued, and this saves a poll round trip.
    this.readLoop();
  }

  private readLoop(): void {
    const e = E();
    while (this.handle && this.wantRead) {
      this.scratch ??= Buffer.allocUnsafe(READ_CHUNK);
      const n = this.handle.read(this.scratch);
      if (n === e.EAGAIN) break;
      if (n < 0) {
        this.destroy(new VsockError(n, 'read', this.remote()));
        return;
      }
      if (n === 0) {
        this.wantRead = false;
        this.setInterest();
        this.push(null);
        return;
      }
      this.bytesRead += n;
      // Hand out a right-sized copy; the 64 KiB scratch buffer is reused.
      const chunk = Buffer.allocUnsafe(n);
      this.scratch.copy(chunk, 0, 0, n);
      if (!this.push(chunk)) this.wantRead = false; // backpressure: wait for _read()
    }
    this.setInterest();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.handle) {
      cb(new VsockError(errnoOf('EBADF'), 'write', this.remote()));
      return;
    }
    this.pending = { buf: chunk, cb };
    this.flushPending();
  }

  // Several queued chunks (e.g. a ttRPC header and its payload) go out in one
  // send: one syscall and, on vsock, one packet instead of many.
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', cb);
  }

  private flushPending(): void {
    const e = E();
    while (this.pending && this.handle) {
      const p = this.pending;
      if (p.buf.length === 0) {
        this.pending = undefined;
        this.setInterest();
        p.cb();
        return;
      }
      const n = this.handle.write(p.buf);
      if (n === e.EAGAIN || n === e.ENOBUFS) break; // kernel buffer full: wait for writability
      if (n < 0) {
        this.pending = undefined;
        this.setInterest();
        p.cb(new VsockError(n, 'write', this.remote()));
        return;
      }
      this.bytesWritten += n;
      // Partial write: keep the unsent tail (a view, no copy) for later.
      p.buf = p.buf.subarray(n);
    }
    this.setInterest();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.handle) {
      cb();
      return;
    }
    const r = this.handle.shutdown(SHUT_WR);
    // ENOTCONN: the peer already closed both directions; nothing left to signal.
    cb(r < 0 && r !== E().ENOTCONN ? new VsockError(r, 'shutdown', this.remote()) : null);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const h = this.handle;
    this.handle = undefined;
    this.wantRead = false;
    const p = this.pending;
    this.pending = undefined;
    if (h) {
      h.onpoll = undefined;
      h.close();
    }
    if (p) p.cb(err ?? new VsockError(errnoOf('EPIPE'), 'write', this.remote()));
    cb(err);
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

export interface ListenOptions {
  /** Local CID to bind; default VMADDR_CID_ANY. */
  cid?: number;
  backlog?: number;
  allowHalfOpen?: boolean;
  /** Kernel receive buffer of accepted sockets (they inherit it); default 1 MiB, 0 = kernel default. */
  bufferSize?: number;
}

/**
 * A listening AF_VSOCK socket. Emits 'connection' (VsockSocket), 'error'
 * (accept failures that are not per-connection), 'close'.
 */
export class VsockServer extends EventEmitter {
  private handle: NativeHandle | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly allowHalfOpen: boolean;

  /** @internal Use listen(). */
  constructor(handle: NativeHandle, allowHalfOpen: boolean) {
    super();
    this.handle = handle;
    this.allowHalfOpen = allowHalfOpen;
    handle.onpoll = (status) => this.onPoll(status);
    const r = handle.poll(READABLE);
    if (r < 0) {
      handle.close();
      this.handle = undefined;
      throw new VsockError(r, 'uv_poll');
    }
  }

  get listening(): boolean {
    return this.handle !== undefined;
  }

  address(): VsockAddress {
    const a = this.handle?.localAddress();
    if (a === undefined) throw new VsockError(errnoOf('EBADF'), 'getsockname');
    if (typeof a === 'number') throw new VsockError(a, 'getsockname');
    return a;
  }

  unref(): this {
    this.handle?.setRef(false);
    return this;
  }

  ref(): this {
    this.handle?.setRef(true);
    return this;
  }

  private onPoll(status: number): void {
    if (status < 0) {
      // libuv stopped polling this listener: it will accept nothing more, so
      // say why and close rather than look alive. (The agent re-listens on 'close'.)
      this.emit('error', pollError(this.handle, status, 'accept'));
      this.close();
      return;
    }
    const e = E();
    while (this.handle) {
      const fd = this.handle.accept();
      if (fd === e.EAGAIN) return;
      // The peer gave up before we accepted; the next one may be fine.
      if (fd === e.ECONNABORTED || fd === e.ECONNRESET) continue;
      if (fd < 0) {
        if (fd === e.EMFILE || fd === e.ENFILE || fd === e.ENOBUFS || fd === e.ENOMEM) {
          // Out of fds/memory: the queue stays readable, so polling now would
          // spin. Back off and retry; the connections wait in the backlog.
          this.handle.poll(0);
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.handle?.poll(READABLE);
          }, 100);
        }
        this.emit('error', new VsockError(fd, 'accept'));
        return;
      }
      const child = new (loadAddon().Handle)(fd);
      const peer = child.remoteAddress();
      if (typeof peer === 'number') {
        child.close(); // reset between accept and getpeername
        continue;
      }
      this.emit('connection', new VsockSocket(child, peer, { allowHalfOpen: this.allowHalfOpen }));
    }
  }

  /** Stop accepting (open connections are not touched). */
  close(cb?: () => void): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const h = this.handle;
    this.handle = undefined;
    if (h) {
      h.onpoll = undefined;
      h.close();
      process.nextTick(() => this.emit('close'));
    }
    if (cb) process.nextTick(cb);
  }
}

/**
 * Listen on `port` (VMADDR_PORT_ANY lets the kernel pick; see address()).
 * Throws VsockError synchronously: EADDRINUSE, EAFNOSUPPORT, ENODEV, ...
 */
export function listen(port: number, opts: ListenOptions = {}): VsockServer {
  const p = checkU32('port', port);
  const cid = checkU32('cid', opts.cid ?? VMADDR_CID_ANY);
  const backlog = checkU32('backlog', opts.backlog ?? 128, 4096);
  const bufferSize = checkU32('bufferSize', opts.bufferSize ?? DEFAULT_BUFFER_SIZE);
  const h = createHandle();
  if (bufferSize > 0) h.setBufferSize(bufferSize); // best effort, as in connect()
  let syscall = 'bind';
  let r = h.bind(cid, p);
  if (r >= 0) {
    syscall = 'listen';
    r = h.listen(backlog);
  }
  if (r < 0) {
    h.close();
    throw new VsockError(r, syscall, { cid, port: p });
  }
  return new VsockServer(h, opts.allowHalfOpen ?? false);
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

/** This machine's own CID (from /dev/vsock); throws VsockError when there is no vsock device. */
export function localCid(): number {
  const r = loadAddon().localCid();
  if (r < 0) throw new VsockError(r, 'ioctl');
  return r;
}
