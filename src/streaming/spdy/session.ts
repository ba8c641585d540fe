// A SPDY/3.1 connection, either end: the frame loop, stream ids (client odd,
// server even), SYN_REPLY, RST_STREAM, PING echo, GOAWAY, and input
// backpressure. It speaks what moby/spdystream (client-go, crictl, kubelet)
// sends and expects:
//
// * Flow control: spdystream neither sends WINDOW_UPDATE nor honours it
//   (its frame handler drops both WINDOW_UPDATE and SETTINGS), so a peer
//   window would stall a Go client after 64 KiB. We do the same: windows are
//   ignored both ways, and backpressure is TCP's: the session stops reading
//   the socket while any stream's consumer is behind (stream.ts).
// * Header blocks: one inflate and one deflate context per connection
//   (header-zlib.ts); a header frame's block is inflated before the next
//   frame is looked at, so frames are handled strictly in order.
// * Teardown: any protocol error, socket error or EOF destroys the session;
//   every stream is destroyed, every pending openStream/ping rejected, the
//   socket destroyed, and 'close' emitted once.

import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log';
import { silentLogger } from '../../log';
import { SpdyProtocolError, SpdyStreamError } from './errors';
import { encodeGoAway, encodePing, encodeRstStream, encodeSynReply, encodeSynStream, FLAG_FIN, FLAG_UNIDIRECTIONAL, GoAwayStatus, RstStatus, type Frame } from './frame';
import { DEFAULT_FRAME_LIMITS, FrameParser, type FrameLimits } from './frame-parser';
import { decodeHeaderBlock, DEFAULT_HEADER_LIMITS, encodeHeaderBlock, type HeaderLimits } from './header-block';
import { HeaderDeflater, HeaderInflater } from './header-zlib';
import { SpdyStreamImpl, type SpdyStream, type StreamHost } from './stream';

export interface SpdySessionOptions {
  isServer: boolean;
  log?: Logger;
  frameLimits?: FrameLimits;
  headerLimits?: HeaderLimits;
  /** Most streams open at once; a SYN_STREAM beyond it is refused (RST_STREAM REFUSED_STREAM). */
  maxStreams?: number;
  /** Each stream's readable highWaterMark: how much one slow consumer may hold. */
  streamHighWaterMark?: number;
}

const DEFAULT_MAX_STREAMS = 1024;
const DEFAULT_STREAM_HWM = 64 << 10;
/** DATA frames we send carry at most this much (spdystream accepts up to 16 MiB; io.Copy writes 32 KiB). */
const SEND_DATA_PAYLOAD = 32 << 10;

type HeaderFrame = Extract<Frame, { block: Buffer }>;

export class SpdySession extends EventEmitter implements StreamHost {
  readonly maxDataPayload = SEND_DATA_PAYLOAD;
  private readonly log: Logger;
  private readonly isServer: boolean;
  private readonly parser: FrameParser;
  private readonly headerLimits: HeaderLimits;
  private readonly deflater = new HeaderDeflater();
  private readonly inflater: HeaderInflater;
  private readonly maxStreams: number;
  private readonly streamHwm: number;
  private readonly streams = new Map<number, SpdyStreamImpl>();
  private readonly opening = new Map<number, { resolve: (s: SpdyStream) => void; reject: (e: Error) => void }>();
  private readonly pings = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private readonly blocked = new Set<SpdyStreamImpl>();
  private readonly drainWaiters: ((err?: Error) => void)[] = [];
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private inflating = false;
  private pumping = false;
  private sentGoAway = false;
  private receivedGoAway = false;
  private closing = false;
  private dead = false;

  constructor(
    private readonly socket: Duplex,
    opts: SpdySessionOptions,
  ) {
    super();
    this.isServer = opts.isServer;
    this.log = opts.log ?? silentLogger;
    this.parser = new FrameParser(opts.frameLimits ?? DEFAULT_FRAME_LIMITS);
    this.headerLimits = opts.headerLimits ?? DEFAULT_HEADER_LIMITS;
    this.inflater = new HeaderInflater(this.headerLimits.maxBytes);
    this.maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.streamHwm = opts.streamHighWaterMark ?? DEFAULT_STREAM_HWM;
    this.nextStreamId = this.isServer ? 2 : 1;
    this.nextPingId = this.isServer ? 2 : 1;
    if (socket instanceof Socket) socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      this.pump();
    });
    socket.on('drain', () => {
      this.flushDrainWaiters();
      this.pump();
    });
    socket.on('end', () => this.onPeerEnd());
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => this.destroy(this.streams.size > 0 && !this.goingAway ? new Error('SPDY connection closed with streams open') : undefined));
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Opens a stream; resolves when the peer's SYN_REPLY arrives, rejects on RST_STREAM or teardown. */
  openStream(headers: Record<string, string>, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.dead) return Promise.reject(new Error('SPDY session is closed'));
    if (this.sentGoAway || this.receivedGoAway) return Promise.reject(new Error('SPDY session is going away: no new streams'));
    const id = this.nextStreamId;
    if (id > 0x7fffffff) return Promise.reject(new Error('SPDY session has used up its stream ids'));
    this.nextStreamId += 2;
    const stream = new SpdyStreamImpl(this, id, { ...headers }, { peerInitiated: false, readableHighWaterMark: this.streamHwm });
    this.streams.set(id, stream);
    const replied = new Promise<SpdyStream>((resolve, reject) => this.opening.set(id, { resolve, reject }));
    this.writeFrame(encodeSynStream(id, this.deflater.deflate(encodeHeaderBlock(headers)), opts.fin ? FLAG_FIN : 0));
    if (opts.fin) stream.markFinSent();
    return replied;
  }

  /** PING the peer; resolves on its echo. */
  ping(): Promise<void> {
    if (this.dead) return Promise.reject(new Error('SPDY session is closed'));
    const id = this.nextPingId;
    this.nextPingId = id >= 0x7ffffffe ? id - 0x7ffffffe : id + 2;
    const p = new Promise<void>((resolve, reject) => this.pings.set(id, { resolve, reject }));
    this.writeFrame(encodePing(id));
    return p;
  }

  /** GOAWAY: no new streams either way; the connection closes once the open streams are done. */
  goAway(): void {
    if (this.dead || this.sentGoAway) return;
    this.sentGoAway = true;
    this.writeFrame(encodeGoAway(this.lastPeerStreamId, GoAwayStatus.OK));
    this.closeIfIdle();
  }

  /** Tears everything down now: streams are destroyed (failing with `err` if given), the socket too. */
  destroy(err?: Error): void {
    if (this.dead) return;
    this.dead = true;
    if (err) this.log.debug({ err }, 'SPDY session torn down');
    this.inflater.close();
    const gone = err ?? new Error('SPDY session closed');
    // A stream still waiting for its SYN_REPLY was never handed out: its
    // openStream promise carries the error, the Duplex just closes.
    const unreplied = new Set(this.opening.keys());
    for (const [id, p] of this.opening) p.reject(new SpdyStreamError(id, RstStatus.CANCEL, `no reply: ${gone.message}`, { cause: err }));
    this.opening.clear();
    for (const p of this.pings.values()) p.reject(gone);
    this.pings.clear();
    // A teardown with a cause fails every open stream with it; a plain
    // destroy() (the owner's choice) just closes them.
    for (const s of [...this.streams.values()]) s.abort(unreplied.has(s.id) ? undefined : err && new SpdyStreamError(s.id, RstStatus.CANCEL, `the connection closed: ${err.message}`, { cause: err }));
    this.streams.clear();
    this.blocked.clear();
    this.flushDrainWaiters(gone);
    this.socket.destroy();
    process.nextTick(() => this.emit('close', err));
  }

  // StreamHost

  writeFrame(frame: Buffer): boolean {
    // After our own end (GOAWAY, then idle) nothing more is said.
    if (this.dead || this.socket.writableEnded) return false;
    return this.socket.write(frame);
  }

  onceWritable(cb: (err?: Error) => void): void {
    if (this.dead) cb(new Error('SPDY session closed'));
    else this.drainWaiters.push(cb);
  }

  sendReply(streamId: number, headers: Record<string, string>): void {
    this.writeFrame(encodeSynReply(streamId, this.deflater.deflate(encodeHeaderBlock(headers))));
  }

  inputBlocked(stream: SpdyStreamImpl): void {
    this.blocked.add(stream);
    this.socket.pause();
  }

  inputUnblocked(stream: SpdyStreamImpl): void {
    if (this.blocked.delete(stream)) this.pump();
  }

  streamFinished(stream: SpdyStreamImpl): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.blocked.delete(stream);
    const opening = this.opening.get(stream.id);
    if (opening) {
      this.opening.delete(stream.id);
      opening.reject(new SpdyStreamError(stream.id, RstStatus.CANCEL, 'closed before the peer replied'));
    }
    this.closeIfIdle();
    if (!this.dead && this.blocked.size === 0) this.pump();
  }

  // The frame loop

  private pump(): void {
    // A push() inside handle() may call straight back here (a consumer
    // reading synchronously); the loop already running re-checks its
    // condition, so frames stay strictly in order.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.mayRead()) {
        const frame = this.parser.next();
        if (!frame) break;
        this.handle(frame);
      }
    } catch (err) {
      this.protocolError(err as Error);
      return;
    } finally {
      this.pumping = false;
    }
    if (this.dead) return;
    if (this.mayRead()) this.socket.resume();
    else this.socket.pause();
  }

  /**
   * Input is read only while every stream's consumer keeps up and no header
   * block is inflating. Control frames (which we may answer) also wait
   * while the socket will not take what we write: a peer that sends PINGs
   * without reading the answers stops being read, rather than making us
   * buffer them. DATA frames do not wait on our writes (we answer none, and
   * their consumers have their own backpressure): a peer that reads while
   * it writes, as an echo does, must not deadlock with us. While the next
   * frame's kind is unknown we read on: at most one more socket chunk.
   */
  private mayRead(): boolean {
    return !this.dead && !this.inflating && this.blocked.size === 0 && !(this.socket.writableNeedDrain && this.parser.nextIsControl() === true);
  }

  private protocolError(err: Error): void {
    if (this.dead) return;
    this.log.warn({ err: err.message }, 'SPDY peer broke the protocol; closing the connection');
    if (err instanceof SpdyProtocolError) this.writeFrame(encodeGoAway(this.lastPeerStreamId, GoAwayStatus.PROTOCOL_ERROR));
    this.destroy(err);
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case 'syn_stream':
      case 'syn_reply':
      case 'headers':
        this.inflating = true;
        this.inflater.inflate(frame.block).then(
          (raw) => {
            this.inflating = false;
            if (this.dead) return;
            try {
              this.handleHeaders(frame, decodeHeaderBlock(raw, this.headerLimits));
            } catch (err) {
              this.protocolError(err as Error);
              return;
            }
            this.pump();
          },
          (err: Error) => this.protocolError(err),
        );
        return;
      case 'data': {
        const s = this.streams.get(frame.streamId);
        // Frames for a stream already reset cross our RST on the wire: drop them, as spdystream does.
        if (!s) return;
        if (s.remoteClosed) {
          this.writeFrame(encodeRstStream(frame.streamId, RstStatus.STREAM_ALREADY_CLOSED));
          s.abort(new SpdyStreamError(frame.streamId, RstStatus.STREAM_ALREADY_CLOSED, 'the peer sent DATA after FIN'));
          return;
        }
        s.receiveData(frame.data, (frame.flags & FLAG_FIN) !== 0);
        return;
      }
      case 'rst_stream': {
        const s = this.streams.get(frame.streamId);
        if (!s) return;
        const err = new SpdyStreamError(frame.streamId, frame.status, `reset by the peer (status ${frame.status})`);
        const opening = this.opening.get(frame.streamId);
        if (opening) {
          this.opening.delete(frame.streamId);
          opening.reject(err);
          s.abort(undefined);
        } else {
          s.abort(err);
        }
        return;
      }
      case 'ping':
        if ((frame.id & 1) === (this.isServer ? 1 : 0)) this.writeFrame(encodePing(frame.id));
        else {
          this.pings.get(frame.id)?.resolve();
          this.pings.delete(frame.id);
        }
        return;
      case 'goaway':
        this.onGoAway(frame.lastGoodStreamId);
        return;
      case 'settings':
      case 'window_update':
        // spdystream ignores both; so do we (see the top of this file).
        return;
    }
  }

  private handleHeaders(frame: HeaderFrame, headers: Record<string, string>): void {
    const fin = (frame.flags & FLAG_FIN) !== 0;
    if (frame.type === 'syn_stream') {
      this.acceptSynStream(frame.streamId, headers, frame.flags);
      return;
    }
    const s = this.streams.get(frame.streamId);
    if (!s) return;
    if (frame.type === 'syn_reply') {
      const opening = this.opening.get(frame.streamId);
      if (!opening) return; // a second SYN_REPLY: spdystream ignores it too
      this.opening.delete(frame.streamId);
      s.replied = true;
      opening.resolve(s);
    }
    if (fin) s.receiveFin();
  }

  private acceptSynStream(id: number, headers: Record<string, string>, flags: number): void {
    const peerParity = this.isServer ? 1 : 0;
    if ((id & 1) !== peerParity || id <= this.lastPeerStreamId) {
      this.writeFrame(encodeRstStream(id, RstStatus.PROTOCOL_ERROR));
      return;
    }
    this.lastPeerStreamId = id;
    if (this.sentGoAway || this.receivedGoAway || this.streams.size >= this.maxStreams || this.listenerCount('stream') === 0) {
      this.writeFrame(encodeRstStream(id, RstStatus.REFUSED_STREAM));
      return;
    }
    const s = new SpdyStreamImpl(this, id, headers, {
      peerInitiated: true,
      receiveOnly: (flags & FLAG_UNIDIRECTIONAL) !== 0,
      readableHighWaterMark: this.streamHwm,
    });
    this.streams.set(id, s);
    if ((flags & FLAG_FIN) !== 0) s.receiveFin();
    this.emit('stream', s);
  }

  private onGoAway(lastGoodStreamId: number): void {
    this.receivedGoAway = true;
    // Our streams above the peer's last good id were never seen by it.
    for (const s of [...this.streams.values()]) {
      if ((s.id & 1) === (this.isServer ? 0 : 1) && s.id > lastGoodStreamId) {
        const err = new SpdyStreamError(s.id, RstStatus.REFUSED_STREAM, 'refused: the peer is going away');
        const opening = this.opening.get(s.id);
        this.opening.delete(s.id);
        opening?.reject(err);
        s.abort(opening ? undefined : err);
      }
    }
    this.closeIfIdle();
  }

  private onPeerEnd(): void {
    // The peer will send nothing more; spdystream only ever closes whole
    // connections. After a GOAWAY either way that is the normal end (a Go
    // client closes once its own streams are done, whatever ours are).
    this.destroy(this.streams.size > 0 && !this.goingAway ? new Error('SPDY peer closed the connection with streams open') : undefined);
  }

  private get goingAway(): boolean {
    return this.sentGoAway || this.receivedGoAway;
  }

  /** After a GOAWAY either way, the connection ends once no stream is open. */
  private closeIfIdle(): void {
    if (this.dead || this.closing || this.streams.size > 0 || !(this.sentGoAway || this.receivedGoAway)) return;
    this.closing = true;
    this.socket.end();
  }

  private flushDrainWaiters(err?: Error): void {
    const waiters = this.drainWaiters.splice(0);
    for (const cb of waiters) cb(err);
  }
}
