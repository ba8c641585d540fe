// The two header-compression contexts of a connection (SPDY/3 section
// 2.6.10.1): every header block a side sends continues one zlib stream primed
// with the SPDY dictionary, so each direction has exactly one context for
// the life of the connection, and every block received must go through the
// inflater in order, even those of frames we then ignore.
//
// Sending: we write the zlib stream by hand as *stored* deflate blocks
// (RFC 1951 section 3.2.4), each header block ending in the empty stored
// block a Z_SYNC_FLUSH writes. That is valid zlib that spdystream's (Go's
// compress/zlib) and any other inflater read, and it is synchronous, so a header frame is encoded where it is queued and frames
// can never reach the socket out of order. Our header blocks are a few dozen
// bytes (an empty SYN_REPLY, a stream type and a port), so compressing them
// would save nothing, and it costs no deflate state per connection.
//
// Receiving: Node's zlib, the one inflate context of the connection, with
// the dictionary; the output of each block is capped while it is produced,
// so a small frame that inflates to gigabytes stops at the cap.

import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary';
import { SpdyProtocolError } from './errors';

/** RFC 1950 Adler-32 (pure). */
export function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    // 5552 bytes is the most that can be summed before b may overflow 2^32.
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** The zlib stream header: deflate, 32 KiB window, FDICT set, then the dictionary's Adler-32. */
function zlibHeader(dictionary: Buffer): Buffer {
  const cmf = 0x78;
  let flg = 0x20; // FDICT, FLEVEL 0
  flg += 31 - ((cmf * 256 + flg) % 31);
  const h = Buffer.alloc(6);
  h.writeUInt8(cmf, 0);
  h.writeUInt8(flg, 1);
  h.writeUInt32BE(adler32(dictionary), 2);
  return h;
}

const STORED_MAX = 0xffff;

function storedBlock(piece: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt8(0x00, 0); // BFINAL 0, BTYPE 00 (stored), padded to the byte
  h.writeUInt16LE(piece.length, 1);
  h.writeUInt16LE(~piece.length & 0xffff, 3);
  return Buffer.concat([h, piece]);
}

/** Our sending context: one continuous zlib stream of stored blocks. */
export class HeaderDeflater {
  private started = false;

  /** The compressed bytes of one header block, continuing the connection's zlib stream. */
  deflate(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(zlibHeader(SPDY3_DICTIONARY));
      this.started = true;
    }
    for (let off = 0; off < block.length; off += STORED_MAX) {
      parts.push(storedBlock(block.subarray(off, off + STORED_MAX)));
    }
    // An empty stored block ends every header block: the marker Z_SYNC_FLUSH
    // writes. Go's inflater hands out what it has only when a block ends in
    // a flush; without the marker it reads on for the next block header,
    // finds the frame's end, and the connection's context is dead from the
    // next frame on ("compressed payload size was incorrect").
    parts.push(storedBlock(Buffer.alloc(0)));
    return Buffer.concat(parts);
  }
}

/** The receiving context. Blocks must be inflated one at a time, in frame order. */
export class HeaderInflater {
  private readonly z: zlib.Inflate;
  private pending: { chunks: Buffer[]; size: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(private readonly maxBytes: number) {
    this.z = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
    // Flowing mode: Node emits each output chunk as it is produced, before
    // the flush callback of the write that produced it.
    this.z.on('data', (chunk: Buffer) => {
      const p = this.pending;
      if (!p) return;
      p.size += chunk.length;
      if (p.size > this.maxBytes) this.fail(new SpdyProtocolError(`header block inflates beyond the ${this.maxBytes}-byte limit`));
      else p.chunks.push(chunk);
    });
    this.z.on('error', (err: Error) => this.fail(new SpdyProtocolError(`header block does not inflate: ${err.message}`)));
  }

  inflate(compressed: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('HeaderInflater: one block at a time'));
    return new Promise((resolve, reject) => {
      this.pending = { chunks: [], size: 0, resolve, reject };
      this.z.write(compressed);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        const p = this.pending;
        this.pending = undefined;
        if (!p) return;
        if (this.failure) p.reject(this.failure);
        else p.resolve(Buffer.concat(p.chunks, p.size));
      });
    });
  }

  close(): void {
    this.fail(new Error('header inflater closed'));
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
    // Destroying stops an inflate in progress: the cap holds mid-block.
    this.z.destroy();
  }
}
