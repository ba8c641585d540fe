// A Duplex over any fd the addon's Handle adopted: a pty master, or a
// unix socket Node's net module cannot open. Why not tty.ReadStream for a pty
// master: its read side reports the master's end (EIO once every copy of the
// slave is closed) as an error and is destroyed, and a destroyed Readable
// drops whatever it still buffers for a paused reader — the last lines a
// process printed before it exited. Here EIO can be declared the end of the
// stream: everything read before it is delivered, then 'end'.

import { Duplex } from 'node:stream';
import type { NativeHandle } from './addon';
import { errnoOf, SyscallError } from './errno';

const READABLE = 1; // UV_READABLE
const WRITABLE = 2; // UV_WRITABLE
const SHUT_WR = 1;
const READ_CHUNK = 64 * 1024;
const EAGAIN = errnoOf('EAGAIN');
const ENOTCONN = errnoOf('ENOTCONN');
const EPIPE = errnoOf('EPIPE');

export interface FdStreamOptions {
  /** Read errors that mean end of stream (a pty master: EIO). */
  eofErrnos?: readonly number[];
  /** `end()` shuts the write side down (sockets); otherwise it only stops writing. */
  shutdownOnEnd?: boolean;
  /** Named in errors (e.g. "pty master"). */
  label: string;
}

export class FdStream extends Duplex {
  private handle: NativeHandle | undefined;
  private interest = 0;
  private wantRead = false;
  private pending: { buf: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private scratch: Buffer | undefined;
  private readonly eof: readonly number[];

  /** Takes ownership of `handle`: it is closed when the stream is destroyed. */
  constructor(
    handle: NativeHandle,
    private readonly opts: FdStreamOptions,
  ) {
    // Half-open: the read side ending (the process exited) must not end the
    // write side by itself, nor the other way round; the owner destroys it.
    super({ allowHalfOpen: true, decodeStrings: true, emitClose: true, autoDestroy: false });
    this.handle = handle;
    this.eof = opts.eofErrnos ?? [];
    handle.onpoll = (status, events) => this.onPoll(status, events);
  }

  get fd(): number {
    return this.handle?.fd ?? -1;
  }

  private setInterest(): void {
    const h = this.handle;
    if (!h) return;
    const want = (this.wantRead ? READABLE : 0) | (this.pending ? WRITABLE : 0);
    if (want === this.interest) return;
    const r = h.poll(want);
    if (r < 0) {
      this.destroy(new SyscallError(r, 'uv_poll', this.opts.label));
      return;
    }
    this.interest = want;
  }

  private onPoll(status: number, events: number): void {
    if (status < 0) {
      // libuv stops polling on EPOLLERR/EPOLLHUP-as-error; a read says what it was
      // (EIO on a hung-up pty master is the end, not a failure).
      this.interest = 0;
      if (this.wantRead) this.readLoop();
      else this.destroy(new SyscallError(status, 'uv_poll', this.opts.label));
      return;
    }
    if (events & WRITABLE && this.pending) this.flushPending();
    if (events & READABLE && this.wantRead) this.readLoop();
  }

  override _read(): void {
    if (!this.handle) return;
    this.wantRead = true;
    this.readLoop();
  }

  private readLoop(): void {
    while (this.handle && this.wantRead) {
      this.scratch ??= Buffer.allocUnsafe(READ_CHUNK);
      const n = this.handle.read(this.scratch);
      if (n === EAGAIN) break;
      if (n === 0 || (n < 0 && this.eof.includes(n))) {
        this.wantRead = false;
        this.setInterest();
        this.push(null);
        return;
      }
      if (n < 0) {
        this.destroy(new SyscallError(n, 'read', this.opts.label));
        return;
      }
      const chunk = Buffer.allocUnsafe(n);
      this.scratch.copy(chunk, 0, 0, n);
      if (!this.push(chunk)) this.wantRead = false; // backpressure: wait for _read()
    }
    this.setInterest();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.handle) {
      cb(new SyscallError(EPIPE, 'write', this.opts.label));
      return;
    }
    this.pending = { buf: chunk, cb };
    this.flushPending();
  }

  private flushPending(): void {
    while (this.pending && this.handle) {
      const p = this.pending;
      if (p.buf.length === 0) {
        this.pending = undefined;
        this.setInterest();
        p.cb();
        return;
      }
      const n = this.handle.write(p.buf);
      if (n === EAGAIN) break; // kernel buffer full: wait for writability
      if (n < 0) {
        this.pending = undefined;
        this.setInterest();
        p.cb(new SyscallError(n, 'write', this.opts.label));
        return;
      }
      p.buf = p.buf.subarray(n);
    }
    this.setInterest();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.handle || !this.opts.shutdownOnEnd) {
      cb();
      return;
    }
    const r = this.handle.shutdown(SHUT_WR);
    cb(r < 0 && r !== ENOTCONN ? new SyscallError(r, 'shutdown', this.opts.label) : null);
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
    if (p) p.cb(err ?? new SyscallError(EPIPE, 'write', this.opts.label));
    cb(err);
  }
}
