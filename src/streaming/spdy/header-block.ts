// The uncompressed SPDY/3 name/value header block (section 2.6.10): a 32-bit
// count, then for each pair a 32-bit length and the name, a 32-bit length
// and the value. Several values of one name travel NUL-separated; the
// Kubernetes clients send one value per name, so we keep the first.

import { SpdyProtocolError } from './errors';

export interface HeaderLimits {
  /** Most name/value pairs in one block. */
  maxPairs: number;
  /** Most bytes one block may inflate to (also bounds every name and value). */
  maxBytes: number;
}

export const DEFAULT_HEADER_LIMITS: HeaderLimits = { maxPairs: 128, maxBytes: 64 << 10 };

/** Encodes headers; names are lower-cased, as SPDY/3 requires. */
export function encodeHeaderBlock(headers: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Decodes an inflated block (pure); a block that is malformed or over a limit throws SpdyProtocolError. */
export function decodeHeaderBlock(block: Buffer, limits: HeaderLimits = DEFAULT_HEADER_LIMITS): Record<string, string> {
  if (block.length > limits.maxBytes) throw new SpdyProtocolError(`header block of ${block.length} bytes exceeds the ${limits.maxBytes}-byte limit`);
  let off = 0;
  const u32 = (what: string): number => {
    if (off + 4 > block.length) throw new SpdyProtocolError(`header block ends inside ${what}`);
    const v = block.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (what: string): string => {
    const len = u32(`the length of ${what}`);
    if (len > block.length - off) throw new SpdyProtocolError(`header block ends inside ${what} (${len} bytes announced)`);
    const s = block.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  const count = u32('the pair count');
  if (count > limits.maxPairs) throw new SpdyProtocolError(`header block of ${count} pairs exceeds the limit of ${limits.maxPairs}`);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < count; i++) {
    const name = str('a header name').toLowerCase();
    const value = str(`the value of "${name}"`);
    if (name.length === 0) throw new SpdyProtocolError('header block with an empty name');
    if (!(name in headers)) headers[name] = value.split('\0')[0];
  }
  if (off !== block.length) throw new SpdyProtocolError(`header block has ${block.length - off} bytes after its last pair`);
  return headers;
}
