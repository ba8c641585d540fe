// The client-to-server half of a CRI connection, frame by frame: the one
// place where bytes a client sent are changed before nghttp2 reads them.
//
// Every frame passes through unchanged (DATA, SETTINGS, PING, WINDOW_UPDATE,
// RST_STREAM, PRIORITY, GOAWAY, extension frames), as the same byte ranges
// of the chunks that came in, except header blocks: a HEADERS frame and its
// CONTINUATIONs are collected, HPACK-decoded with a table that mirrors the
// client's encoder, and sent on as one HEADERS frame (plus CONTINUATIONs when
// it does not fit one frame) holding the same fields, in the same order,
// with the same bytes, as literals that never touch the server's dynamic
// table. The only values changed are `:authority` and `host` values nghttp2
// would refuse (see authority.ts). Padding is dropped (it carries nothing);
// END_STREAM and the PRIORITY fields are kept.
//
// Because the server's table stays empty, it cannot diverge from anything,
// and nghttp2 still checks every field as it would have: an upper-case name,
// a connection-specific header, a bad pseudo-header are refused exactly as
// before. What this layer refuses itself, by closing the connection, is
// what nghttp2 would also treat as a connection error (a broken preface, a
// frame between HEADERS and its CONTINUATION, an undecodable header block, a
// PUSH_PROMISE from a client), plus header blocks larger than a limit well
// above Node's own, so a client cannot make the daemon buffer without bound.
//
// The listener sends an empty SETTINGS frame of its own before any session
// exists (listener.ts says why). The client's first SETTINGS ACK answers that
// frame, not the session's, so it is taken out here; where it was in the
// client's bytes is kept (`ownSettingsAckAt`) for a connection the listener
// then hands to nghttp2 directly.

import { InvalidArgumentError, ResourceExhaustedError } from '../../../common/errors';
import { acceptableAuthority, isAuthorityField } from './authority';
import { CLIENT_PREFACE, DEFAULT_HEADER_TABLE_SIZE, DEFAULT_MAX_FRAME_SIZE, Flag, FRAME_HEADER_LENGTH, FrameType, readFrameHeader, writeFrameHeader, type FrameHeader } from './frame';
import { HpackDecoder } from './hpack/decoder';
import { encodeLiteralBlock } from './hpack/encoder';

export interface RewriteLimits {
  /** Largest HEADERS/CONTINUATION accepted (the server's SETTINGS_MAX_FRAME_SIZE), and the largest one sent on. */
  maxFrameSize: number;
  /** Compressed bytes of one header block (HEADERS + CONTINUATIONs) buffered before it is decoded. */
  maxHeaderBlockBytes: number;
  /** Decoded size of one header list, counted as RFC 7541 does (name + value + 32 per field). */
  maxHeaderListBytes: number;
  /** The server's SETTINGS_HEADER_TABLE_SIZE: the most the client's encoder may use. */
  headerTableSize: number;
}

/**
 * Node's server announces the HTTP/2 defaults for frame and table size and a
 * 64 KiB header list; the two block limits are four times that, so nothing
 * Node would accept is refused here, and a connection costs at most about
 * 0.5 MiB of header buffers.
 */
export const DEFAULT_REWRITE_LIMITS: RewriteLimits = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxHeaderBlockBytes: 256 * 1024,
  maxHeaderListBytes: 256 * 1024,
  headerTableSize: DEFAULT_HEADER_TABLE_SIZE,
};

/** What the first complete header block of the connection needed: nothing yet, no change, or a changed authority. */
export type FirstRequest = 'unseen' | 'as-sent' | 'changed';

export interface AuthorityRewrite {
  streamId: number;
  name: string;
  from: string;
  to: string;
}

interface OpenBlock {
  streamId: number;
  /** END_STREAM and PRIORITY of the HEADERS frame; END_HEADERS is set when framing the result. */
  flags: number;
  priority: Buffer | undefined;
  fragments: Buffer[];
  bytes: number;
}

const FRAME_NAMES = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k])) as Record<number, string>;
const frameName = (type: number) => FRAME_NAMES[type] ?? `extension frame type 0x${type.toString(16)}`;

function protocolError(problem: string): InvalidArgumentError {
  return new InvalidArgumentError('HTTP/2 framing', `${problem} (a PROTOCOL_ERROR)`);
}

function frameSizeError(problem: string): InvalidArgumentError {
  return new InvalidArgumentError('HTTP/2 framing', `${problem} (a FRAME_SIZE_ERROR)`);
}

/** One header block as HEADERS (+ CONTINUATION) frames no larger than `maxFrameSize`. */
export function frameHeaderBlock(streamId: number, flags: number, priority: Buffer | undefined, block: Buffer, maxFrameSize: number): Buffer {
  const prio = priority?.length ?? 0;
  const first = Math.min(block.length, maxFrameSize - prio);
  const rest = block.length - first;
  const continuations = Math.ceil(rest / maxFrameSize);
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH * (1 + continuations) + prio + block.length);
  let pos = writeFrameHeader(out, 0, { length: prio + first, type: FrameType.HEADERS, flags: flags | (continuations === 0 ? Flag.END_HEADERS : 0), streamId });
  if (priority) pos += priority.copy(out, pos);
  pos += block.copy(out, pos, 0, first);
  for (let from = first; from < block.length; from += maxFrameSize) {
    const n = Math.min(maxFrameSize, block.length - from);
    const last = from + n === block.length;
    pos = writeFrameHeader(out, pos, { length: n, type: FrameType.CONTINUATION, flags: last ? Flag.END_HEADERS : 0, streamId });
    pos += block.copy(out, pos, from, from + n);
  }
  return out;
}

export class RequestRewriter {
  private readonly decoder: HpackDecoder;
  private prefaceSeen = 0;
  private readonly header = Buffer.alloc(FRAME_HEADER_LENGTH);
  private headerSeen = 0;
  private frame: FrameHeader | undefined;
  private remaining = 0;
  /** The current frame is HEADERS/CONTINUATION: its payload is collected, not passed on. */
  private collecting = false;
  private payload: Buffer[] = [];
  private open: OpenBlock | undefined;
  private failed = false;
  /** Bytes of the client's stream taken before the current chunk. */
  private offset = 0;
  /** Where the frame whose header is being read starts in the client's stream. */
  private frameStart = 0;
  private ownAckAt: number | undefined;
  private first: FirstRequest = 'unseen';

  /** `ownSettingsSent`: the listener sent EMPTY_SETTINGS_FRAME, so the client's first SETTINGS ACK is dropped. */
  constructor(
    private readonly limits: RewriteLimits = DEFAULT_REWRITE_LIMITS,
    private readonly onRewrite?: (r: AuthorityRewrite) => void,
    private ownSettingsSent = false,
  ) {
    this.decoder = new HpackDecoder(limits.headerTableSize);
  }

  /** Whether the connection's first header block arrived, and whether a field of it was changed. */
  get firstRequest(): FirstRequest {
    return this.first;
  }

  /** Offset in the client's stream of the (9-byte) ACK of the listener's SETTINGS, once it arrived. */
  get ownSettingsAckAt(): number | undefined {
    return this.ownAckAt;
  }

  /**
   * Takes the next bytes from the client; returns the bytes to hand to the
   * server, in order (possibly none yet: a frame header or header block may
   * be incomplete). Throws a typed error when the connection must be closed;
   * after that it refuses every further chunk.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw protocolError('bytes arrived after the connection was condemned');
    try {
      const out = this.process(chunk);
      this.offset += chunk.length;
      return out;
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private process(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    // Bytes passed on unchanged are handed over as one slice of `chunk` per run, not copied.
    let run = -1;
    const flush = (end: number) => {
      if (run >= 0 && end > run) out.push(chunk.subarray(run, end));
      run = -1;
    };
    let off = 0;
    while (off < chunk.length) {
      if (this.prefaceSeen < CLIENT_PREFACE.length) {
        const n = Math.min(CLIENT_PREFACE.length - this.prefaceSeen, chunk.length - off);
        if (!chunk.subarray(off, off + n).equals(CLIENT_PREFACE.subarray(this.prefaceSeen, this.prefaceSeen + n))) {
          throw protocolError('the client did not open with the HTTP/2 connection preface');
        }
        if (run < 0) run = off;
        off += n;
        this.prefaceSeen += n;
        continue;
      }
      if (this.frame === undefined) {
        const start = off;
        if (this.headerSeen === 0) this.frameStart = this.offset + off;
        const n = Math.min(FRAME_HEADER_LENGTH - this.headerSeen, chunk.length - off);
        const wholeHere = this.headerSeen === 0 && n === FRAME_HEADER_LENGTH;
        chunk.copy(this.header, this.headerSeen, off, off + n);
        this.headerSeen += n;
        off += n;
        if (this.headerSeen < FRAME_HEADER_LENGTH) {
          flush(start); // the partial header waits in this.header
          break;
        }
        this.headerSeen = 0;
        const h = readFrameHeader(this.header);
        this.collecting = this.admit(h);
        const ownAck = this.isOwnSettingsAck(h);
        this.frame = h;
        this.remaining = h.length;
        if (ownAck) {
          flush(start);
          this.ownAckAt = this.frameStart;
        } else if (this.collecting) flush(start);
        else if (wholeHere) run = run < 0 ? start : run;
        else {
          flush(start);
          out.push(Buffer.from(this.header)); // began in an earlier chunk
        }
      } else {
        const n = Math.min(this.remaining, chunk.length - off);
        if (this.collecting) this.payload.push(chunk.subarray(off, off + n));
        else if (run < 0) run = off;
        off += n;
        this.remaining -= n;
      }
      if (this.frame !== undefined && this.remaining === 0) {
        if (this.collecting) {
          const payload = this.payload.length === 1 ? this.payload[0] : Buffer.concat(this.payload);
          this.payload = [];
          const rewritten = this.headerFrame(this.frame, payload);
          if (rewritten) out.push(rewritten);
        }
        this.frame = undefined;
      }
    }
    flush(chunk.length);
    return out;
  }

  /** The first SETTINGS ACK, when the listener sent SETTINGS of its own: it answers those (a bare frame header). */
  private isOwnSettingsAck(h: FrameHeader): boolean {
    if (!this.ownSettingsSent || h.type !== FrameType.SETTINGS || (h.flags & Flag.ACK) === 0) return false;
    if (h.length !== 0) throw frameSizeError(`a SETTINGS ACK carries ${h.length} bytes; it must be empty (RFC 9113 6.5)`);
    this.ownSettingsSent = false;
    return true;
  }

  /** Checks a frame header against the state; true when its payload belongs to a header block. */
  private admit(h: FrameHeader): boolean {
    if (this.open && h.type !== FrameType.CONTINUATION) {
      throw protocolError(`a ${frameName(h.type)} frame arrived inside the header block of stream ${this.open.streamId}, where only CONTINUATION may (RFC 9113 6.10)`);
    }
    if (h.type === FrameType.PUSH_PROMISE) throw protocolError('a client sent PUSH_PROMISE, which only servers may (RFC 9113 8.4)');
    if (h.type !== FrameType.HEADERS && h.type !== FrameType.CONTINUATION) return false;
    if (h.type === FrameType.CONTINUATION && (!this.open || this.open.streamId !== h.streamId)) {
      throw protocolError(`a CONTINUATION frame on stream ${h.streamId} continues no header block (RFC 9113 6.10)`);
    }
    if (h.length > this.limits.maxFrameSize) {
      throw frameSizeError(`a ${frameName(h.type)} frame of ${h.length} bytes exceeds the ${this.limits.maxFrameSize} the server announced`);
    }
    return true;
  }

  /** A complete HEADERS or CONTINUATION payload; returns the frames to send once the block is complete. */
  private headerFrame(h: FrameHeader, payload: Buffer): Buffer | undefined {
    if (h.type === FrameType.HEADERS) {
      let start = 0;
      let padding = 0;
      if (h.flags & Flag.PADDED) {
        if (payload.length < 1) throw frameSizeError(`a PADDED HEADERS frame on stream ${h.streamId} has no pad length`);
        padding = payload[0]!;
        start = 1;
      }
      let priority: Buffer | undefined;
      if (h.flags & Flag.PRIORITY) {
        if (payload.length - start < 5) throw frameSizeError(`a HEADERS frame on stream ${h.streamId} is too short for its PRIORITY fields`);
        priority = Buffer.from(payload.subarray(start, start + 5));
        start += 5;
      }
      if (padding > payload.length - start) throw protocolError(`a HEADERS frame on stream ${h.streamId} has more padding than payload (RFC 9113 6.2)`);
      const fragment = payload.subarray(start, payload.length - padding);
      this.open = { streamId: h.streamId, flags: h.flags & (Flag.END_STREAM | Flag.PRIORITY), priority, fragments: [fragment], bytes: fragment.length };
    } else {
      this.open!.fragments.push(payload);
      this.open!.bytes += payload.length;
    }
    const block = this.open!;
    if (block.bytes > this.limits.maxHeaderBlockBytes) {
      throw new ResourceExhaustedError(`HTTP/2 framing: the header block of stream ${block.streamId} exceeds ${this.limits.maxHeaderBlockBytes} bytes`);
    }
    if ((h.flags & Flag.END_HEADERS) === 0) return undefined;
    this.open = undefined;
    return this.rewrite(block);
  }

  private rewrite(block: OpenBlock): Buffer {
    const compressed = block.fragments.length === 1 ? block.fragments[0] : Buffer.concat(block.fragments);
    const fields = this.decoder.decode(compressed, this.limits.maxHeaderListBytes);
    let changed = false;
    for (const f of fields) {
      if (!isAuthorityField(f.name)) continue;
      const to = acceptableAuthority(f.value);
      if (to === f.value) continue;
      this.onRewrite?.({ streamId: block.streamId, name: f.name, from: f.value, to });
      f.value = to;
      changed = true;
    }
    if (this.first === 'unseen') this.first = changed ? 'changed' : 'as-sent';
    return frameHeaderBlock(block.streamId, block.flags, block.priority, encodeLiteralBlock(fields), this.limits.maxFrameSize);
  }
}
