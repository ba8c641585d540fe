// The streaming frame parser: bytes in, whole frames out. This is the host's
// trust boundary against a hostile guest, so it
//   * never throws: violations are returned as a value, the caller decides;
//   * checks the declared length against the cap before buffering anything
//     of the payload, and allocates exactly the payload (≤ cap), never more;
//   * keeps at most HEADER_LENGTH + cap bytes of its own, whatever the peer sends.
// After the first violation it is poisoned: every later push reports it again
// (the connection is being torn down; nothing after it can be trusted).

import { decodeHeader, Frame, HEADER_LENGTH, isKnownMessageType, MAX_FRAME_LENGTH, FrameHeader } from './frame';

export interface ParseViolation {
  reason: string;
}

export type PushResult = { frames: Frame[]; violation?: ParseViolation };

export class FrameParser {
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFill = 0;
  private current: FrameHeader | undefined;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  private violation: ParseViolation | undefined;
  /** High-water mark of bytes held between pushes (tests and the fuzzer assert on it). */
  maxBuffered = 0;

  constructor(private readonly maxFrameLength = MAX_FRAME_LENGTH) {}

  get buffered(): number {
    return this.headerFill + this.payloadFill;
  }

  push(chunk: Uint8Array): PushResult {
    const frames: Frame[] = [];
    if (this.violation) return { frames, violation: this.violation };
    let off = 0;
    while (off < chunk.length) {
      if (!this.current) {
        const take = Math.min(HEADER_LENGTH - this.headerFill, chunk.length - off);
        this.header.set(chunk.subarray(off, off + take), this.headerFill);
        this.headerFill += take;
        off += take;
        this.note();
        if (this.headerFill < HEADER_LENGTH) break;
        const h = decodeHeader(this.header);
        const bad = this.check(h);
        if (bad) {
          this.violation = bad;
          this.headerFill = 0;
          return { frames, violation: bad };
        }
        this.current = h;
        this.payload = h.length > 0 ? Buffer.allocUnsafe(h.length) : Buffer.alloc(0);
        this.payloadFill = 0;
      }
      const h = this.current;
      const payload = this.payload as Buffer;
      const take = Math.min(h.length - this.payloadFill, chunk.length - off);
      if (take > 0) {
        payload.set(chunk.subarray(off, off + take), this.payloadFill);
        this.payloadFill += take;
        off += take;
        this.note();
      }
      if (this.payloadFill === h.length) {
        frames.push({ streamId: h.streamId, type: h.type as Frame['type'], flags: h.flags, payload });
        this.current = undefined;
        this.payload = undefined;
        this.payloadFill = 0;
        this.headerFill = 0;
      }
    }
    return { frames };
  }

  private check(h: FrameHeader): ParseViolation | undefined {
    if (h.length > this.maxFrameLength) {
      return { reason: `frame length ${h.length} exceeds the ${this.maxFrameLength}-byte cap` };
    }
    if (!isKnownMessageType(h.type)) return { reason: `unknown message type ${h.type}` };
    if (h.streamId === 0) return { reason: 'stream id 0 is reserved' };
    return undefined;
  }

  private note(): void {
    const b = this.buffered;
    if (b > this.maxBuffered) this.maxBuffered = b;
  }
}
