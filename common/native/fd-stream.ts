// A Duplex over any fd the addon's Handle adopted: a pty master, or a
// unix socket Node's net module cannot open. Why not tty.ReadStream for a pty
// master: its read side reports the master's end (EIO once every copy of the
// slave is closed) as an error and is destroyed, and a destroyed Readable
// drops whatever it still buffers for a paused reader — the last lines a
// process printed before it exited. And libuv takes a short read that comes
// with POLLHUP for the end, which a pty master reports once the slave is
// closed while the last bytes written may still be on their way into its
// buffer (agent/src/terminal.ts measured the loss). Here only a read ends the
// stream: EOF, or EIO declared the end; everything read before it is
// delivered, then 'end'.
// VsockSocket is this stream over an AF_VSOCK handle: it names its errors by
// the peer's address and counts on ENOBUFS as a full buffer.

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
  /** Write results that mean the kernel's buffer is full (wait for writability), besides EAGAIN. */
  fullErrnos?: readonly number[];
  /** The errno a write gets once the stream has lost its fd (default EPIPE). */
  closedErrno?: number;
  /** Default true: the read side ending does not end the write side (a process's output and its stdin). */
  allowHalfOpen?: boolean;
  /** Default false: the owner destroys the stream. */
  autoDestroy?: boolean;
}

export class FdStream extends Duplex {
  bytesRead = 0;
  bytesWritten = 0;
  protected handle: NativeHandle | undefined;
  private interest = 0;
  private wantRead = false;
  private pending: { buf: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private scratch: Buffer | undefined;
  private readonly eof: readonly number[];
  private readonly full: readonly number[];

  /** Takes ownership of `handle`: it is closed when the stream is destroyed. */
  constructor(
    handle: NativeHandle,
    private readonly opts: FdStreamOptions,
  ) {
    // Half-open by default: the read side ending (the process exited) must not end the
    // write side by itself, nor the other way round; the owner destroys it.
    super({ allowHalfOpen: opts.allowHalfOpen ?? true, decodeStrings: true, emitClose: true, autoDestroy: opts.autoDestroy ?? false });
    this.handle = handle;
    this.eof = opts.eofErrnos ?? [];
    this.full = [EAGAIN, ...(opts.fullErrnos ?? [])];
    handle.onpoll = (status, events) => this.onPoll(status, events);
  }

  get fd(): number {
    return this.handle?.fd ?? -1;
  }

  /** The error of a failed syscall on this stream. */
  protected error(errno: number, syscall: string): Error {
    return new SyscallError(errno, syscall, this.opts.label);
  }

  /** libuv stopped polling (EPOLLERR/EPOLLHUP as an error): a read says what it was (EIO on a hung-up pty master is the end, not a failure). */
  protected pollFailed(status: number): void {
    this.interest = 0;
    if (this.wantRead) this.readLoop();
    else this.destroy(this.error(status, 'uv_poll'));
  }

  private setInterest(): void {
    const h = this.handle;
    if (!h) return;
    const want = (this.wantRead ? READABLE : 0) | (this.pending ? WRITABLE : 0);
    if (want === this.interest) return;
    const r = h.poll(want);
    if (r < 0) {
      this.destroy(this.error(r, 'uv_poll'));
      return;
    }
    this.interest = want;
  }

  private onPoll(status: number, events: number): void {
    if (status < 0) {
      this.pollFailed(status);
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
        this.destroy(this.error(n, 'read'));
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
      cb(this.error(this.opts.closedErrno ?? EPIPE, 'write'));
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
      if (this.full.includes(n)) break; // kernel buffer full: wait for writability
      if (n < 0) {
        this.pending = undefined;
        this.setInterest();
        p.cb(this.error(n, 'write'));
        return;
      }
      this.bytesWritten += n;
      // Partial write: keep the unsent tail (a view, no copy) for later.
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
    // ENOTCONN: the peer already closed both directions; nothing left to signal.
    cb(r < 0 && r !== ENOTCONN ? this.error(r, 'shutdown') : null);
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
    if (p) p.cb(err ?? this.error(EPIPE, 'write'));
    cb(err);
  }
}
