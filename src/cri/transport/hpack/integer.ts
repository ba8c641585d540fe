// HPACK's prefixed integers (RFC 7541 section 5.1).

import { InvalidArgumentError } from '../../../../common/errors';

/**
 * The largest integer accepted. Every integer in a header block is an index,
 * a string length or a table size, all far below this; a larger one is the
 * "exceeds implementation limits" decoding error of RFC 7541 5.1. It also
 * bounds the continuation bytes to five.
 */
export const MAX_INTEGER = 2 ** 31 - 1;

/** Decodes the integer whose first byte is `src[pos]`, with an N-bit prefix; returns it and the position after it. */
export function decodeInteger(src: Buffer, pos: number, end: number, prefixBits: number): [value: number, next: number] {
  const mask = (1 << prefixBits) - 1;
  let value = src[pos++] & mask;
  if (value < mask) return [value, pos];
  let shift = 0;
  for (;;) {
    if (pos >= end) throw new InvalidArgumentError('HTTP/2 header block', 'an integer runs past the end of the block (a COMPRESSION_ERROR)');
    const b = src[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new InvalidArgumentError('HTTP/2 header block', `an integer exceeds ${MAX_INTEGER} (a COMPRESSION_ERROR)`);
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
  }
}

/** Bytes `encodeInteger` writes for this value and prefix. */
export function integerLength(value: number, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return 1;
  let n = 2;
  for (let rest = value - mask; rest >= 0x80; rest = Math.floor(rest / 128)) n++;
  return n;
}

/** Writes `value` with an N-bit prefix at `pos`, OR-ing `flags` into the first byte; returns the position after it. */
export function encodeInteger(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos++] = rest;
  return pos;
}
