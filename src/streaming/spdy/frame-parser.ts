// Incremental, bounded reader of SPDY/3.1 frames. The peer is untrusted: a
// frame's length is checked against a cap as soon as its 8-byte header is
// in, before any payload is buffered, so the parser never holds more than
// one capped frame plus the socket chunk that carried it. Every malformed
// frame throws SpdyProtocolError; the session tears the connection down.

import { SpdyProtocolError } from './errors';
import { ControlType, SPDY_VERSION, type Frame } from './frame';

export interface FrameLimits {
  /** Largest DATA payload accepted. spdystream writes what one Write() got; io.Copy uses 32 KiB. */
  maxDataPayload: number;
  /** Largest control-frame payload (a compressed header block plus a few fields). */
  maxControlPayload: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = { maxDataPayload: 1 << 20, maxControlPayload: 64 << 10 };

export class FrameParser {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {}

  /** Bytes held, waiting for the rest of a frame. */
  get buffered(): number {
    return this.length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Whether the next frame is a control frame; null until its first byte is in. */
  nextIsControl(): boolean | null {
    return this.length === 0 ? null : (this.chunks[0][0] & 0x80) !== 0;
  }

  /** The next complete frame, or null until more bytes arrive. */
  next(): Frame | null {
    if (this.length < 8) return null;
    const head = this.peek(8);
    const word0 = head.readUInt32BE(0);
    const flags = head.readUInt8(4);
    const payloadLength = head.readUInt32BE(4) & 0xffffff;
    const isControl = (word0 & 0x80000000) !== 0;
    if (isControl) {
      const version = (word0 >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`control frame of version ${version}; only SPDY/3 is spoken`);
      if (payloadLength > this.limits.maxControlPayload) throw new SpdyProtocolError(`control frame of ${payloadLength} bytes exceeds the ${this.limits.maxControlPayload}-byte limit`);
    } else if (payloadLength > this.limits.maxDataPayload) {
      throw new SpdyProtocolError(`DATA frame of ${payloadLength} bytes exceeds the ${this.limits.maxDataPayload}-byte limit`);
    }
    if (this.length < 8 + payloadLength) return null;
    const payload = this.take(8 + payloadLength).subarray(8);
    if (!isControl) {
      const streamId = word0 & 0x7fffffff;
      if (streamId === 0) throw new SpdyProtocolError('DATA frame on stream 0');
      return { type: 'data', streamId, flags, data: payload };
    }
    return parseControl(word0 & 0xffff, flags, payload);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.length -= n;
    return out;
  }
}

function need(payload: Buffer, exact: number | null, min: number, what: string): void {
  if (exact !== null ? payload.length !== exact : payload.length < min) {
    throw new SpdyProtocolError(`${what} frame with a ${payload.length}-byte payload`);
  }
}

function streamIdOf(payload: Buffer, what: string): number {
  const id = payload.readUInt32BE(0) & 0x7fffffff;
  if (id === 0) throw new SpdyProtocolError(`${what} frame on stream 0`);
  return id;
}

/** Decodes one control frame's payload (pure). */
export function parseControl(type: number, flags: number, payload: Buffer): Frame {
  switch (type) {
    case ControlType.SynStream: {
      need(payload, null, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        flags,
        streamId: streamIdOf(payload, 'SYN_STREAM'),
        associatedId: payload.readUInt32BE(4) & 0x7fffffff,
        priority: payload.readUInt8(8) >>> 5,
        block: payload.subarray(10),
      };
    }
    case ControlType.SynReply:
      need(payload, null, 4, 'SYN_REPLY');
      return { type: 'syn_reply', flags, streamId: streamIdOf(payload, 'SYN_REPLY'), block: payload.subarray(4) };
    case ControlType.Headers:
      need(payload, null, 4, 'HEADERS');
      return { type: 'headers', flags, streamId: streamIdOf(payload, 'HEADERS'), block: payload.subarray(4) };
    case ControlType.RstStream: {
      need(payload, 8, 8, 'RST_STREAM');
      const status = payload.readUInt32BE(4);
      if (status === 0) throw new SpdyProtocolError('RST_STREAM with status 0');
      return { type: 'rst_stream', streamId: streamIdOf(payload, 'RST_STREAM'), status };
    }
    case ControlType.Settings: {
      need(payload, null, 4, 'SETTINGS');
      const count = payload.readUInt32BE(0);
      if (payload.length !== 4 + 8 * count) throw new SpdyProtocolError(`SETTINGS frame announces ${count} entries in ${payload.length} bytes`);
      const entries: { flags: number; id: number; value: number }[] = [];
      for (let i = 0; i < count; i++) {
        const word = payload.readUInt32BE(4 + 8 * i);
        entries.push({ flags: word >>> 24, id: word & 0xffffff, value: payload.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', flags, entries };
    }
    case ControlType.Ping:
      need(payload, 4, 4, 'PING');
      return { type: 'ping', id: payload.readUInt32BE(0) };
    case ControlType.GoAway:
      need(payload, 8, 8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
    case ControlType.WindowUpdate:
      need(payload, 8, 8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: payload.readUInt32BE(0) & 0x7fffffff, delta: payload.readUInt32BE(4) & 0x7fffffff };
    default:
      throw new SpdyProtocolError(`unknown control frame type ${type}`);
  }
}
