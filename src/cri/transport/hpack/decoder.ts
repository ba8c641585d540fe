// An HPACK decoder (RFC 7541) for one direction of one HTTP/2 connection:
// the dynamic table it keeps mirrors the peer's encoder, so every header
// block of the connection must pass through it, in order. Strings are kept
// as latin1 JS strings: one char per byte, so values survive byte-for-byte.
//
// It is as strict as nghttp2 about what makes a block undecodable (index 0
// or out of range, table size updates above the announced limit or after
// the first field, bad Huffman padding, truncation): the rewriter must never
// turn a block nghttp2 would refuse into one it accepts.

import { InvalidArgumentError, ResourceExhaustedError } from '../../../../common/errors';
import { huffmanDecode } from './huffman';
import { decodeInteger } from './integer';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from './static-table';

export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed" (RFC 7541 6.2.3): intermediaries must keep it so. */
  neverIndexed: boolean;
}

/** RFC 7541 4.1: an entry's size is its name and value lengths plus 32. */
export const ENTRY_OVERHEAD = 32;

function compressionError(problem: string): InvalidArgumentError {
  return new InvalidArgumentError('HTTP/2 header block', `${problem} (a COMPRESSION_ERROR)`);
}

export class HpackDecoder {
  /** Oldest first: dynamic index 1 is the last element. */
  private readonly entries: Array<readonly [string, string]> = [];
  private size = 0;
  private maxSize: number;

  /**
   * @param sizeLimit the SETTINGS_HEADER_TABLE_SIZE the receiving side
   *   announced: the most the encoder may use, and the table's initial size.
   */
  constructor(private readonly sizeLimit: number) {
    this.maxSize = sizeLimit;
  }

  /** Current dynamic table size in RFC 7541 terms (for tests). */
  get tableSize(): number {
    return this.size;
  }

  /** Current dynamic table entries, newest first (for tests). */
  get table(): Array<readonly [string, string]> {
    return [...this.entries].reverse();
  }

  /**
   * Decodes one complete header block. Throws InvalidArgumentError for a
   * block RFC 7541 calls a decoding error, ResourceExhaustedError when the
   * decoded list (RFC 7541 sizes: name + value + 32 per field) would exceed
   * `maxListSize`. After a throw the table may be half-updated: the
   * connection must be closed, as a COMPRESSION_ERROR closes it.
   */
  decode(block: Buffer, maxListSize: number): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    let pos = 0;
    const end = block.length;
    const add = (name: string, value: string, neverIndexed: boolean) => {
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxListSize) throw new ResourceExhaustedError(`HTTP/2 header block: the decoded header list exceeds ${maxListSize} bytes`);
      fields.push({ name, value, neverIndexed });
    };
    while (pos < end) {
      const b = block[pos];
      if (b & 0x80) {
        // Indexed header field (6.1).
        let index: number;
        [index, pos] = decodeInteger(block, pos, end, 7);
        const [name, value] = this.lookup(index);
        add(name, value, false);
      } else if (b & 0x40) {
        // Literal with incremental indexing (6.2.1).
        let name: string;
        let value: string;
        [name, pos] = this.readName(block, pos, end, 6);
        [value, pos] = this.readString(block, pos, end);
        add(name, value, false);
        this.insert(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update (6.3): only before the first field of a block (4.2).
        if (fields.length > 0) throw compressionError('a dynamic table size update follows a header field');
        let size: number;
        [size, pos] = decodeInteger(block, pos, end, 5);
        if (size > this.sizeLimit) throw compressionError(`a dynamic table size update to ${size} exceeds the announced limit ${this.sizeLimit}`);
        this.maxSize = size;
        this.evictTo(size);
      } else {
        // Literal without indexing (6.2.2, 0000xxxx) or never indexed (6.2.3, 0001xxxx).
        const neverIndexed = (b & 0x10) !== 0;
        let name: string;
        let value: string;
        [name, pos] = this.readName(block, pos, end, 4);
        [value, pos] = this.readString(block, pos, end);
        add(name, value, neverIndexed);
      }
    }
    return fields;
  }

  private lookup(index: number): readonly [string, string] {
    if (index === 0) throw compressionError('an indexed header field has index 0');
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index];
    const dyn = index - STATIC_TABLE_LENGTH;
    if (dyn > this.entries.length) throw compressionError(`index ${index} is beyond the dynamic table (${this.entries.length} entries)`);
    return this.entries[this.entries.length - dyn];
  }

  private readName(block: Buffer, pos: number, end: number, prefixBits: number): [string, number] {
    let index: number;
    [index, pos] = decodeInteger(block, pos, end, prefixBits);
    if (index === 0) return this.readString(block, pos, end);
    return [this.lookup(index)[0], pos];
  }

  private readString(block: Buffer, pos: number, end: number): [string, number] {
    if (pos >= end) throw compressionError('a string is missing at the end of the block');
    const huffman = (block[pos] & 0x80) !== 0;
    let length: number;
    [length, pos] = decodeInteger(block, pos, end, 7);
    if (length > end - pos) throw compressionError(`a string of ${length} bytes runs past the end of the block`);
    const s = huffman ? huffmanDecode(block, pos, pos + length) : block.toString('latin1', pos, pos + length);
    return [s, pos + length];
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // 4.4: an entry larger than the table empties it and is not added.
    this.evictTo(this.maxSize - size);
    if (size > this.maxSize) return;
    this.entries.push([name, value]);
    this.size += size;
  }

  private evictTo(target: number): void {
    let drop = 0;
    while (this.size > Math.max(target, 0) && drop < this.entries.length) {
      const [n, v] = this.entries[drop++];
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
    if (drop) this.entries.splice(0, drop);
  }
}
