// The serial console (ttyS0) of a VM-image pod. QEMU serves it as a unix
// socket (`-chardev socket,server=on,wait=off`) that takes one client and
// drops the guest's output while none is connected, so the guest never
// blocks on a missing reader. The daemon is that one client: it pumps the
// output into the container's CRI log (so `crictl logs` shows the boot),
// into a fixed ring for tail() (errors, debugInfo), and to every attach
// session; what attach sessions type goes back to the guest's ttyS0.
//
// The guest is hostile and may print forever, without newlines, binary.
// Nothing here grows with what it prints:
// * the CRI log: CriLogWriter cuts lines at its maximum (P records) and
//   holds at most LOG_QUEUE_HIGH_WATER waiting for the disk; past that the
//   pump stops reading the socket until the disk caught up. That is
//   backpressure into QEMU and from there onto the guest's UART: a guest
//   printing faster than the host's disk takes it prints slower, and only
//   that guest;
// * the tail: a fixed ring of CONSOLE_TAIL_BYTES;
// * attach sessions: each keeps at most CONSOLE_ATTACH_BUFFER_BYTES its
//   client has not read, and a client further behind is disconnected (its
//   session ends with RESOURCE_EXHAUSTED). Not backpressure: one slow
//   client would then stall the log and every other session, and the guest.
//   Not dropping bytes either: a terminal that silently loses output shows
//   garbage; a disconnected client knows it and can attach again.
//
// While the daemon is down (or between a dropped connection and the
// reconnect, which is retried with a short backoff until close()), QEMU
// drops the console output: the log has a gap there.

import { connect, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';
import { CriLogWriter } from '../../logs/cri-log';
import type { ProcessIO, StreamOptions, TerminalSize } from '../controller';

/** Console bytes kept in memory for tail(). */
export const CONSOLE_TAIL_BYTES = 64 * 1024;
/** Output an attach session's client may leave unread before it is disconnected. */
export const CONSOLE_ATTACH_BUFFER_BYTES = 1 << 20;
export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 2_000;
/** A connection that lived this long starts the backoff afresh when it drops. */
const STABLE_CONNECTION_MS = 1_000;
/** A line the guest has not ended (a login prompt) reaches the log as a P record after this long. */
const PARTIAL_FLUSH_MS = 1_000;

const CR = 0x0d;
const LF = 0x0a;

/** The most \r bytes held across chunks (a guest sending \r for ever must not grow it). */
const MAX_HELD_CR = 64;

/**
 * A serial console ends lines with \r\n, and a tty's ONLCR turns a program's
 * own \r\n into \r\r\n (systemd's lines); the CRI log wants \n. Drops every
 * \r of a run that ends at a \n and keeps every other byte (a lone \r of a
 * progress line stays). A run of \r at the end of `chunk` is held
 * (`heldCr`: how many, at most MAX_HELD_CR) until the next chunk tells
 * whether a \n follows. Pure.
 */
export function stripCrBeforeLf(chunk: Buffer, heldCr: number): { bytes: Buffer; heldCr: number } {
  if (chunk.length === 0) return { bytes: chunk, heldCr };
  const parts: Buffer[] = [];
  /** A run of `n` \r at the end: held, but no more than MAX_HELD_CR of it. */
  const hold = (n: number): { bytes: Buffer; heldCr: number } => {
    const emit = Math.max(0, n - MAX_HELD_CR);
    if (emit > 0) parts.push(Buffer.alloc(emit, CR));
    return { bytes: Buffer.concat(parts), heldCr: n - emit };
  };
  // The chunk's leading \r continue the held run.
  let from = 0;
  while (from < chunk.length && chunk[from] === CR) from++;
  if (from === chunk.length) return hold(heldCr + from);
  if (chunk[from] !== LF && heldCr + from > 0) parts.push(Buffer.alloc(heldCr + from, CR));
  for (let c = chunk.indexOf(CR, from); c !== -1; c = chunk.indexOf(CR, c)) {
    let end = c;
    while (end < chunk.length && chunk[end] === CR) end++;
    if (end === chunk.length) {
      parts.push(chunk.subarray(from, c));
      return hold(end - c);
    }
    if (chunk[end] === LF) {
      parts.push(chunk.subarray(from, c));
      from = end;
    }
    c = end;
  }
  parts.push(chunk.subarray(from));
  return { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts), heldCr: 0 };
}

/** The newest `size` bytes written to it. */
export class ByteRing {
  private readonly buf: Buffer;
  private end = 0;
  private filled = 0;

  constructor(readonly size: number) {
    this.buf = Buffer.alloc(size);
  }

  push(b: Buffer): void {
    if (b.length >= this.size) {
      b.copy(this.buf, 0, b.length - this.size);
      this.end = 0;
      this.filled = this.size;
      return;
    }
    const first = Math.min(b.length, this.size - this.end);
    b.copy(this.buf, this.end, 0, first);
    b.copy(this.buf, 0, first);
    this.end = (this.end + b.length) % this.size;
    this.filled = Math.min(this.size, this.filled + b.length);
  }

  /** The last `n` bytes (fewer if fewer were written), as a copy. */
  last(n: number): Buffer {
    const k = Math.max(0, Math.min(n, this.filled));
    const start = (this.end - k + this.size) % this.size;
    if (start + k <= this.size) return Buffer.from(this.buf.subarray(start, start + k));
    return Buffer.concat([this.buf.subarray(start), this.buf.subarray(0, (start + k) % this.size)]);
  }
}

export interface SerialConsoleOptions {
  /** QEMU's console socket (a server); connected with retries until it exists and accepts. */
  socketPath: string;
  /** The container's CRI log ("" = none); console bytes become stdout records. */
  logPath: string;
  log: Logger;
}

/** What an attach session needs of the console. */
interface ConsoleLink {
  /** Sends typed bytes to the guest; `cb` once the socket took them (or they were dropped). */
  input(chunk: Buffer, cb: () => void): void;
  detach(a: ConsoleAttachment): void;
  log: Logger;
}

/** One attach session: output from the moment of attach, its input to the guest. */
class ConsoleAttachment {
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  readonly stdin?: Writable;
  readonly done: Promise<{ exitCode: number }>;
  private closed = false;
  private fail!: (err: Error) => void;

  constructor(
    private readonly link: ConsoleLink,
    private readonly opts: StreamOptions,
    vmExited: Promise<unknown>,
  ) {
    // Pushed to by offer(); the pump never waits for a client, so read() has nothing to do.
    if (opts.stdout) this.stdout = new Readable({ read: () => undefined });
    // A serial line has one output stream: with or without a tty it is stdout, and stderr stays empty.
    if (opts.stderr && !opts.tty) this.stderr = new Readable({ read: () => undefined });
    if (opts.stdin) {
      this.stdin = new Writable({ highWaterMark: 64 << 10, write: (chunk: Buffer, _enc, cb) => link.input(chunk, () => cb()) });
      this.stdin.on('error', () => undefined);
    }
    const failed = new Promise<never>((_, reject) => (this.fail = reject));
    this.done = Promise.race([
      vmExited.then(() => {
        this.stdout?.push(null);
        this.stderr?.push(null);
        return { exitCode: 0 };
      }),
      failed,
    ]);
    this.done.catch(() => undefined); // the consumer may never look at it
    void this.done.then(
      () => this.release(false),
      () => this.release(true),
    );
  }

  /** Console output; never waits. */
  offer(b: Buffer): void {
    const r = this.stdout;
    if (this.closed || !r || r.destroyed) return;
    if (r.readableLength + b.length > CONSOLE_ATTACH_BUFFER_BYTES) {
      this.end(new ResourceExhaustedError(`attach to the serial console: the client fell more than ${CONSOLE_ATTACH_BUFFER_BYTES} bytes behind the console output; disconnected`));
      return;
    }
    r.push(b);
  }

  resize(size: TerminalSize): Promise<void> {
    if (!this.opts.tty) return Promise.reject(new FailedPreconditionError('attach to the serial console: resize asked of a session without a terminal'));
    const ok = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
    if (!ok(size.width) || !ok(size.height)) return Promise.reject(new InvalidArgumentError('size', `${size.width}x${size.height} does not fit a terminal (0..65535 each)`));
    // A serial line has no window size to tell the guest (`stty rows/cols` inside does it).
    this.link.log.debug({ size }, 'serial console: resize has no effect on a serial line');
    return Promise.resolve();
  }

  /** Ends the session with `err` (the console closed, the client fell behind). */
  end(err: Error): void {
    if (this.closed) return;
    this.fail(err);
    this.release(true);
  }

  /** The client went away: the VM runs on. */
  close(): void {
    this.end(new FailedPreconditionError('attach to the serial console: the session was closed'));
  }

  private release(dropOutput: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.link.detach(this);
    this.stdin?.destroy();
    if (dropOutput) {
      this.stdout?.destroy();
      this.stderr?.destroy();
    }
  }

  io(): ProcessIO {
    return { stdin: this.stdin, stdout: this.stdout, stderr: this.stderr, resize: (s) => this.resize(s), done: this.done, close: () => this.close() };
  }
}

export class SerialConsole {
  private sock: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay = RECONNECT_MIN_MS;
  private started = false;
  private closing: Promise<void> | undefined;
  private heldCr = 0;
  private readonly ring = new ByteRing(CONSOLE_TAIL_BYTES);
  private readonly writer: CriLogWriter | undefined;
  private readonly attachments = new Set<ConsoleAttachment>();
  private logFailed = false;

  constructor(private readonly o: SerialConsoleOptions) {
    if (o.logPath !== '') {
      this.writer = new CriLogWriter(o.logPath, {
        partialFlushMs: PARTIAL_FLUSH_MS,
        onError: (err) => {
          // Output is dropped (the file vanished, the disk is full): said once per run of failures.
          if (!this.logFailed) o.log.warn({ err, path: o.logPath }, 'cannot write the serial console to the container log; output dropped');
          this.logFailed = true;
        },
      });
    }
  }

  /** Creates the log file and connects; reconnects after a drop until close(). */
  start(): void {
    if (this.started || this.closing) return;
    this.started = true;
    // The file exists before the first output, as for any container (`crictl logs` finds it).
    this.writer?.open().catch((err: unknown) => this.o.log.warn({ err, path: this.o.logPath }, 'cannot create the container log'));
    this.connect();
  }

  /** ReopenContainerLog: kubelet rotated the file. */
  reopenLog(): Promise<void> {
    return this.writer ? this.writer.reopen() : Promise.resolve();
  }

  /** An interactive session on the console; `done` resolves (exit code 0) when `vmExited` does. */
  attach(opts: StreamOptions, vmExited: Promise<unknown>): ProcessIO {
    if (this.closing) throw new FailedPreconditionError(`attach to the serial console ${this.o.socketPath}: the console is closed (the container was stopped or removed)`);
    const a = new ConsoleAttachment({ input: (chunk, cb) => this.input(chunk, cb), detach: (x) => this.attachments.delete(x), log: this.o.log }, opts, vmExited);
    this.attachments.add(a);
    return a.io();
  }

  /** The last console bytes (at most CONSOLE_TAIL_BYTES) as text, lines ending in \n. */
  tail(bytes = CONSOLE_TAIL_BYTES): string {
    return stripCrBeforeLf(this.ring.last(bytes), 0).bytes.toString('utf8');
  }

  /** Stops, disconnects, ends every attach session, flushes and closes the log. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sock?.destroy();
    this.sock = undefined;
    for (const a of [...this.attachments]) a.end(new UnavailableError('attach to the serial console: the console was closed (the container was stopped or removed, or the daemon is shutting down)'));
    if (this.heldCr > 0) this.writer?.write('stdout', Buffer.alloc(this.heldCr, CR));
    this.heldCr = 0;
    this.closing = this.writer ? this.writer.close() : Promise.resolve();
    return this.closing;
  }

  private connect(): void {
    const s = connect(this.o.socketPath);
    this.sock = s;
    let since = 0;
    s.on('connect', () => {
      since = Date.now();
      this.o.log.debug({ socketPath: this.o.socketPath }, 'serial console connected');
    });
    s.on('data', (b: Buffer) => this.onData(s, b));
    // Before QEMU made the socket (ENOENT) or after it ended (ECONNREFUSED): retried below.
    s.on('error', (err) => this.o.log.debug({ err }, 'serial console socket error'));
    s.on('close', () => {
      if (this.sock !== s || this.closing) return;
      this.sock = undefined;
      if (since > 0 && Date.now() - since >= STABLE_CONNECTION_MS) this.delay = RECONNECT_MIN_MS;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.closing) this.connect();
      }, this.delay);
      // Housekeeping: it must not keep a daemon alive.
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    });
  }

  private onData(s: Socket, b: Buffer): void {
    if (this.closing) return;
    this.ring.push(b);
    for (const a of this.attachments) a.offer(b);
    if (!this.writer) return;
    const { bytes, heldCr } = stripCrBeforeLf(b, this.heldCr);
    this.heldCr = heldCr;
    if (bytes.length > 0) this.writer.write('stdout', bytes);
    // Backpressure from the disk (see the top): no more reads until the log's queue is below its mark.
    s.pause();
    void this.writer.writable().then(() => {
      if (!s.destroyed) s.resume();
    });
  }

  /** Typed bytes to the guest. Dropped while not connected (a serial line has no buffer either). */
  private input(chunk: Buffer, cb: () => void): void {
    const s = this.sock;
    if (!s || s.destroyed || s.connecting) {
      this.o.log.debug({ bytes: chunk.length }, 'serial console not connected; input dropped');
      cb();
      return;
    }
    if (s.write(chunk)) {
      cb();
      return;
    }
    const go = (): void => {
      s.off('drain', go);
      s.off('close', go);
      cb();
    };
    s.on('drain', go);
    s.on('close', go);
  }
}
