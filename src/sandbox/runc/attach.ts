// Attach to a runc container's own stdio (CRI Attach, kubectl attach)
// through its conmon's attach socket; the protocol is in attach-framing.ts.
//
// Backpressure: conmon writes to an attached client with blocking writes, so
// a client that stops reading fills the socket and conmon stops reading the
// container's output (the container then blocks on its pipe). Here a packet
// is read only while the Readable it goes to has room; nothing is buffered
// beyond the streams' own high-water marks.
//
// The session ends when conmon closes the socket, which it does when the
// container has exited and its output was sent; the exit code is then the
// container's. close() drops only the attachment: the container runs on
// (with stdin_once, conmon closes its stdin as the client goes away).

import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { finished, Readable, Writable } from 'node:stream';
import { FailedPreconditionError, InternalError } from '../../../common/errors';
import type { NativeHandle } from '../../../common/native/addon';
import { errnoOf, SyscallError } from '../../../common/native/errno';
import { connectSeqpacket } from '../../../common/native/seqpacket';
import type { ContainerProcessState, ProcessIO, StreamOptions, TerminalSize } from '../controller';
import { ATTACH_READ_BYTES, parseAttachPacket, resizeMessage, stdinPackets } from './attach-framing';

const READABLE = 1; // UV_READABLE
const WRITABLE = 2; // UV_WRITABLE
const SHUT_WR = 1;
const EAGAIN = errnoOf('EAGAIN');

export interface AttachOptions {
  id: string;
  attachSocket: string;
  /** conmon's control FIFO (resize). */
  ctlPath: string;
  streams: StreamOptions;
  /** The container's state once conmon let go of the socket. */
  state: () => Promise<ContainerProcessState>;
}

export function attachContainer(o: AttachOptions): ProcessIO {
  let handle: NativeHandle;
  try {
    handle = connectSeqpacket(o.attachSocket);
  } catch (err) {
    const code = (err as SyscallError).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') throw new FailedPreconditionError(`container ${o.id} is not running (its conmon is gone)`);
    throw err;
  }
  return new AttachSession(o, handle).io();
}

class AttachSession {
  private handle: NativeHandle | undefined;
  private interest = 0;
  /** A Readable is full: no packet is read until it asks for more. */
  private held = false;
  private ended = false;
  private closed = false;
  private readonly scratch = Buffer.allocUnsafe(ATTACH_READ_BYTES);
  private readonly stdout: Readable | undefined;
  private readonly stderr: Readable | undefined;
  private readonly stdin: Writable | undefined;
  /** Stdin packets not yet taken by the kernel, and the write to call back when they are. */
  private pending: { packets: Buffer[]; cb: (err?: Error | null) => void } | undefined;
  private readonly done: Promise<{ exitCode: number }>;
  private onSocketEnd: () => void = () => undefined;
  private rejectDone: (err: Error) => void = () => undefined;

  constructor(
    private readonly o: AttachOptions,
    handle: NativeHandle,
  ) {
    this.handle = handle;
    handle.onpoll = (status, events) => this.onPoll(status, events);
    const read = () => {
      if (!this.held) return;
      this.held = false;
      this.readLoop();
    };
    const s = o.streams;
    this.stdout = s.stdout ? new Readable({ read }) : undefined;
    // With a terminal conmon sends everything as stdout.
    this.stderr = s.stderr && !s.tty ? new Readable({ read }) : undefined;
    this.stdin = s.stdin
      ? new Writable({
          write: (chunk: Buffer, _enc, cb) => this.writeStdin(chunk, cb),
          final: (cb) => this.endStdin(cb),
        })
      : undefined;
    this.stdin?.on('error', () => undefined);
    const socketEnd = new Promise<void>((resolve, reject) => {
      this.onSocketEnd = resolve;
      this.rejectDone = reject;
    });
    this.done = socketEnd.then(() => this.exitCode());
    // The consumer may never look at it (e.g. after close()).
    this.done.catch(() => undefined);
    this.setInterest();
  }

  io(): ProcessIO {
    return { stdin: this.stdin, stdout: this.stdout, stderr: this.stderr, resize: (size) => this.resize(size), done: this.done, close: () => this.close() };
  }

  private setInterest(): void {
    const h = this.handle;
    if (!h) return;
    const want = (!this.held && !this.ended ? READABLE : 0) | (this.pending ? WRITABLE : 0);
    if (want === this.interest) return;
    const r = h.poll(want);
    if (r < 0) return this.fail(new SyscallError(r, 'uv_poll', this.o.attachSocket));
    this.interest = want;
  }

  private onPoll(status: number, events: number): void {
    if (status < 0) {
      // libuv stopped the handle (EPOLLERR): a read tells whether it is the end.
      this.interest = 0;
      this.readLoop();
      if (this.pending) this.flushStdin();
      return;
    }
    if (events & WRITABLE && this.pending) this.flushStdin();
    if (events & READABLE) this.readLoop();
  }

  private readLoop(): void {
    while (this.handle && !this.held && !this.ended) {
      const n = this.handle.read(this.scratch);
      if (n === EAGAIN) break;
      // 0: conmon closed the socket; an error (ECONNRESET): conmon is gone. Either way the output is over.
      if (n <= 0) return this.endOutput();
      const p = parseAttachPacket(this.scratch.subarray(0, n));
      if (!p || p.stream === 'unknown') continue;
      const to = p.stream === 'stdout' ? this.stdout : this.stderr;
      // Output of a stream nobody asked for is dropped.
      if (!to || to.destroyed) continue;
      if (!to.push(Buffer.from(p.data))) this.held = true;
    }
    this.setInterest();
  }

  private endOutput(): void {
    if (this.ended) return;
    this.ended = true;
    this.stdout?.push(null);
    this.stderr?.push(null);
    this.setInterest();
    // Settled once the consumer has had everything conmon sent.
    const outputs = [this.stdout, this.stderr].filter((r): r is Readable => !!r).map((r) => new Promise<void>((resolve) => finished(r, { writable: false }, () => resolve())));
    void Promise.all(outputs).then(() => {
      this.release();
      this.onSocketEnd();
    });
  }

  private async exitCode(): Promise<{ exitCode: number }> {
    const st = await this.o.state();
    if (st.state === 'running') throw new InternalError(`attach to container ${this.o.id}: conmon closed the attach socket while the container runs`);
    return { exitCode: st.exitCode };
  }

  private writeStdin(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (!this.handle) return cb(new FailedPreconditionError(`attach to container ${this.o.id}: the session ended`));
    this.pending = { packets: stdinPackets(chunk), cb };
    this.flushStdin();
  }

  private flushStdin(): void {
    const p = this.pending;
    if (!p) return;
    while (this.handle && p.packets.length) {
      const n = this.handle.write(p.packets[0]);
      if (n === EAGAIN) return this.setInterest(); // socket full: wait for writability
      if (n < 0) {
        this.pending = undefined;
        this.setInterest();
        return p.cb(new SyscallError(n, 'write', this.o.attachSocket));
      }
      // A seqpacket write takes the whole packet or nothing.
      p.packets.shift();
    }
    this.pending = undefined;
    this.setInterest();
    p.cb();
  }

  private endStdin(cb: (err?: Error | null) => void): void {
    const r = this.handle ? this.handle.shutdown(SHUT_WR) : 0;
    cb(r < 0 ? new SyscallError(r, 'shutdown', this.o.attachSocket) : null);
  }

  private async resize(size: TerminalSize): Promise<void> {
    if (!this.o.streams.tty) throw new FailedPreconditionError(`container ${this.o.id} has no terminal to resize`);
    const line = resizeMessage(size);
    if (this.ended || this.closed) return;
    // O_NONBLOCK: fails at once (ENXIO) instead of hanging when conmon is gone.
    const fifo = await open(this.o.ctlPath, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK).catch((err: Error) => {
      throw new FailedPreconditionError(`container ${this.o.id}: conmon control pipe unavailable: ${err.message}`);
    });
    try {
      await fifo.write(line);
    } finally {
      await fifo.close();
    }
  }

  private fail(err: Error): void {
    this.rejectDone(err);
    this.stdout?.destroy();
    this.stderr?.destroy();
    this.release();
  }

  /** Lets go of the socket and the stdin; the output streams end or were destroyed by then. */
  private release(): void {
    const h = this.handle;
    this.handle = undefined;
    if (h) {
      h.onpoll = undefined;
      h.close();
    }
    const p = this.pending;
    this.pending = undefined;
    p?.cb(new FailedPreconditionError(`attach to container ${this.o.id}: the session ended`));
    this.stdin?.destroy();
  }

  /** The client went away: drop the attachment; the container runs on. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new FailedPreconditionError(`attach to container ${this.o.id}: the session was closed`));
  }
}
