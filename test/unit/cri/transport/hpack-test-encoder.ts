// An HPACK encoder for tests that compresses the way real clients do (Go's
// x/net/http2, nghttp2): static and dynamic table references, literals with
// incremental indexing, Huffman-coded strings, optional table size updates.
// The daemon never encodes like this; tests use it to feed the decoder and
// the rewriter blocks that depend on the connection's dynamic table.

import { ENTRY_OVERHEAD, type HeaderField } from '../../../../src/cri/transport/hpack/decoder';
import { HUFFMAN_CODES } from '../../../../src/cri/transport/hpack/huffman';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from '../../../../src/cri/transport/hpack/static-table';

export function huffmanEncode(s: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const { code, bits: n } = HUFFMAN_CODES[s.charCodeAt(i)];
    for (let b = n - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) & 1);
      if (++bits === 8) {
        bytes.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff); // pad with EOS's leading ones
  return Buffer.from(bytes);
}

export function integer(value: number, prefixBits: number, flags: number): number[] {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return [flags | value];
  const out = [flags | mask];
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

export function stringLiteral(s: string, huffman: boolean): number[] {
  const raw = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
  return [...integer(raw.length, 7, huffman ? 0x80 : 0), ...raw];
}

export interface EncoderOptions {
  huffman?: boolean;
  /** Add literals to the dynamic table (what clients do for most fields). */
  indexing?: boolean;
}

export class TestHpackEncoder {
  private entries: Array<[string, string]> = []; // newest first
  private size = 0;
  private maxSize = 4096;

  constructor(private readonly opts: EncoderOptions = { huffman: true, indexing: true }) {}

  /** Encodes a block; `sizeUpdates` are emitted first (a client that changed its table size). */
  encode(fields: ReadonlyArray<readonly [string, string] | HeaderField>, sizeUpdates: number[] = []): Buffer {
    const out: number[] = [];
    for (const s of sizeUpdates) {
      out.push(...integer(s, 5, 0x20));
      this.maxSize = s;
      this.evict(s);
    }
    for (const f of fields) {
      const { name, value, neverIndexed: never } = 'name' in f ? f : { name: f[0], value: f[1], neverIndexed: false };
      const exact = this.find(name, value);
      if (exact && !never) {
        out.push(...integer(exact, 7, 0x80));
        continue;
      }
      const nameIndex = this.findName(name);
      const indexing = this.opts.indexing && !never;
      const [prefix, flags] = indexing ? [6, 0x40] : [4, never ? 0x10 : 0];
      out.push(...integer(nameIndex, prefix, flags));
      if (nameIndex === 0) out.push(...stringLiteral(name, !!this.opts.huffman));
      out.push(...stringLiteral(value, !!this.opts.huffman));
      if (indexing) this.insert(name, value);
    }
    return Buffer.from(out);
  }

  private find(name: string, value: string): number {
    for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) if (STATIC_TABLE[i][0] === name && STATIC_TABLE[i][1] === value) return i;
    const d = this.entries.findIndex(([n, v]) => n === name && v === value);
    return d < 0 ? 0 : STATIC_TABLE_LENGTH + 1 + d;
  }

  private findName(name: string): number {
    for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) if (STATIC_TABLE[i][0] === name) return i;
    const d = this.entries.findIndex(([n]) => n === name);
    return d < 0 ? 0 : STATIC_TABLE_LENGTH + 1 + d;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(this.maxSize - size);
    if (size > this.maxSize) return;
    this.entries.unshift([name, value]);
    this.size += size;
  }

  private evict(target: number): void {
    while (this.size > Math.max(0, target) && this.entries.length) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }
}
