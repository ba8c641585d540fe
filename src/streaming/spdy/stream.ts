// One SPDY stream as a node:stream Duplex of its DATA frames. Half-close
// both ways: end() sends FLAG_FIN, the peer's FIN ends the readable side; the
// stream is done with when both have happened. reset() (or destroy()) before
// that sends RST_STREAM.
//
// Backpressure on input: when push() says the readable buffer is over its
// highWaterMark, the stream tells its session, which stops reading the
// socket until the consumer drains (_read). So a slow consumer holds at
// most highWaterMark plus one frame, and TCP pushes back on the peer. That
// is the only flow control spdystream has: it neither sends nor honours
// WINDOW_UPDATE.

import { Duplex } from 'node:stream';
import { SpdyStreamError } from './errors';
import { encodeData, encodeRstStream, FLAG_FIN, RstStatus } from './frame';

export interface SpdyStream extends Duplex {
  readonly id: number;
  /** SYN_STREAM headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** SYN_REPLY: accept a peer-initiated stream (a no-op on our own streams, or when already replied). */
  reply(headers?: Record<string, string>): void;
  /** RST_STREAM (default CANCEL), destroys the Duplex. */
  reset(status?: number): void;
}

/** What a stream needs from its session. */
export interface StreamHost {
  /** Writes one encoded frame; false when the socket is over its highWaterMark. */
  writeFrame(frame: Buffer): boolean;
  /** Calls back once the socket has drained (or the session is gone). */
  onceWritable(cb: (err?: Error) => void): void;
  sendReply(streamId: number, headers: Record<string, string>): void;
  /** The stream's readable buffer is full: stop reading the socket. */
  inputBlocked(stream: SpdyStreamImpl): void;
  /** The stream's consumer wants more: reading may resume. */
  inputUnblocked(stream: SpdyStreamImpl): void;
  /** Both sides have sent FIN, or the stream was reset or destroyed. */
  streamFinished(stream: SpdyStreamImpl): void;
  readonly alive: boolean;
  readonly maxDataPayload: number;
}

export interface StreamOptions {
  peerInitiated: boolean;
  /** The peer sent FLAG_UNIDIRECTIONAL: we may not send. */
  receiveOnly?: boolean;
  readableHighWaterMark: number;
}

export class SpdyStreamImpl extends Duplex implements SpdyStream {
  /** SYN_REPLY sent (peer-initiated) or received (ours). */
  replied: boolean;
  private finSent = false;
  private finReceived = false;
  private blocked = false;
  private finished = false;
  /** Set when no RST_STREAM must follow our destroy (the peer reset it, or the connection is gone). */
  private silent = false;
  private resetStatus: number = RstStatus.CANCEL;
  /** A reset from the peer that waits for the data before it to be read (see abort()). */
  private pendingAbort: { err: Error | undefined } | undefined;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
    readonly headers: Readonly<Record<string, string>>,
    opts: StreamOptions,
  ) {
    super({ readableHighWaterMark: opts.readableHighWaterMark, allowHalfOpen: true });
    this.replied = !opts.peerInitiated;
    if (opts.receiveOnly) {
      this.finSent = true;
      this.end();
    }
  }

  reply(headers: Record<string, string> = {}): void {
    if (this.replied || this.destroyed || !this.host.alive) return;
    this.replied = true;
    this.host.sendReply(this.id, headers);
  }

  reset(status: number = RstStatus.CANCEL): void {
    if (this.destroyed) return;
    this.resetStatus = status;
    this.destroy();
  }

  /** We sent SYN_STREAM with FLAG_FIN: the writable side is over without another frame. */
  markFinSent(): void {
    this.finSent = true;
    this.end();
  }

  /** DATA from the peer (the session has checked the stream may receive). */
  receiveData(data: Buffer, fin: boolean): void {
    if (this.destroyed || this.pendingAbort) return;
    if (data.length > 0 && !this.push(data) && !this.blocked) {
      this.blocked = true;
      this.host.inputBlocked(this);
    }
    if (fin) this.receiveFin();
  }

  receiveFin(): void {
    if (this.finReceived || this.destroyed) return;
    this.finReceived = true;
    this.push(null);
    // No more DATA can come for this stream, so its buffer cannot grow:
    // the socket need not wait for this consumer any more.
    this.unblock();
    this.maybeFinished();
  }

  get remoteClosed(): boolean {
    return this.finReceived;
  }

  /**
   * The peer reset the stream, or the connection went away: destroy without
   * answering. DATA that arrived before the reset is still the consumer's to
   * read, as with spdystream, whose buffered data channel drains before it
   * reports the close (client-go reads an exec's status that way when
   * kubelet's code resets the stream right after writing it). So a stream
   * with unread data takes no more and is destroyed, with the reset's
   * error, once that data has been read.
   */
  abort(err: Error | undefined): void {
    if (this.destroyed) return;
    this.silent = true;
    if (this.readableLength === 0) {
      this.destroy(err);
      return;
    }
    this.pendingAbort = { err };
    // Nothing more can arrive for it: the session forgets the stream, and its
    // buffer no longer holds the socket back.
    this.finReceived = true;
    this.finish();
  }

  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    if (this.pendingAbort && this.readableLength === 0) {
      const { err } = this.pendingAbort;
      this.pendingAbort = undefined;
      // After the chunk just read has reached its consumer ('data' is emitted inside read()).
      process.nextTick(() => this.destroy(err));
    }
    return chunk;
  }

  override _read(): void {
    this.unblock();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.host.alive) return cb(new SpdyStreamError(this.id, RstStatus.CANCEL, 'the connection is closed'));
    if (this.finSent) return cb(new SpdyStreamError(this.id, RstStatus.STREAM_ALREADY_CLOSED, 'the peer opened this stream receive-only'));
    // spdystream drops DATA on a stream it has not replied to yet: reply first.
    this.reply();
    let ok = true;
    for (let off = 0; off < chunk.length; off += this.host.maxDataPayload) {
      ok = this.host.writeFrame(encodeData(this.id, chunk.subarray(off, off + this.host.maxDataPayload)));
    }
    if (ok) cb();
    else this.host.onceWritable(cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.finSent) {
      if (!this.host.alive) return cb(new SpdyStreamError(this.id, RstStatus.CANCEL, 'the connection is closed'));
      this.reply();
      this.finSent = true;
      this.host.writeFrame(encodeData(this.id, Buffer.alloc(0), FLAG_FIN));
    }
    this.maybeFinished();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.silent && !(this.finSent && this.finReceived) && this.host.alive) {
      this.host.writeFrame(encodeRstStream(this.id, this.resetStatus));
    }
    this.finish();
    cb(err);
  }

  private maybeFinished(): void {
    if (this.finSent && this.finReceived) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.unblock();
    this.host.streamFinished(this);
  }

  private unblock(): void {
    if (this.blocked) {
      this.blocked = false;
      this.host.inputUnblocked(this);
    }
  }
}
