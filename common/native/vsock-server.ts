// A listening AF_VSOCK socket and listen() (the agent in the guest); see
// src/native/vsock.ts for the overview.

import { EventEmitter } from 'node:events';
import { loadAddon, NativeHandle } from './addon';
import { errnoOf, VsockAddress, VsockError } from './errno';
import { checkU32, createHandle, DEFAULT_BUFFER_SIZE, E, pollError, READABLE, VMADDR_CID_ANY } from './vsock-common';
import { VsockSocket } from './vsock-socket';

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
