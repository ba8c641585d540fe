// The Huffman code of HPACK (RFC 7541 Appendix B). Clients may send any
// header string Huffman-coded; the rewriter decodes them and never encodes
// (its output is plain literals), so only the decoder lives here.
//
// Appendix B's code is canonical: sorted by (length, symbol), each code is
// the previous one plus one, shifted left when the length grows. So the
// table below holds only the code lengths and the codes follow from them;
// the unit test checks the result against Appendix B's own codes and the
// Appendix C examples.

import { InvalidArgumentError } from '../../../../common/errors';

/** Code length in bits of each symbol 0..255 and of EOS (256), RFC 7541 Appendix B: 16 symbols a row. */
// prettier-ignore
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, // EOS (256)
];

const EOS = 256;
const MAX_BITS = 30;

/** Symbols in canonical order, and per length the first code and where its symbols start in that order. */
const SORTED = [...LENGTHS.keys()].sort((a, b) => LENGTHS[a] - LENGTHS[b] || a - b);
const FIRST_CODE = new Int32Array(MAX_BITS + 2);
const FIRST_INDEX = new Int32Array(MAX_BITS + 2);
const COUNT = new Int32Array(MAX_BITS + 2);
/** The code of each symbol, derived canonically (exported for tests and test clients that encode). */
export const HUFFMAN_CODES: readonly { code: number; bits: number }[] = (() => {
  const codes = new Array<{ code: number; bits: number }>(LENGTHS.length);
  let code = 0;
  let prevBits = LENGTHS[SORTED[0]];
  SORTED.forEach((sym, i) => {
    const bits = LENGTHS[sym];
    if (i > 0) code = (code + 1) * 2 ** (bits - prevBits);
    prevBits = bits;
    if (COUNT[bits] === 0) {
      FIRST_CODE[bits] = code;
      FIRST_INDEX[bits] = i;
    }
    COUNT[bits]++;
    codes[sym] = { code, bits };
  });
  return codes;
})();

function huffmanError(problem: string): InvalidArgumentError {
  return new InvalidArgumentError('HTTP/2 header block', `Huffman-coded string ${problem} (RFC 7541 section 5.2; a COMPRESSION_ERROR)`);
}

/**
 * Decodes `src[start, end)` and returns the bytes as a latin1 string (one
 * char per byte, so nothing is lost). Rejects what RFC 7541 5.2 makes a
 * decoding error: the EOS symbol, padding longer than 7 bits, padding that
 * is not the most significant bits of EOS (all ones).
 */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // The shortest code has 5 bits, so n bytes hold at most 8n/5 symbols.
  const out = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let n = 0;
  let code = 0;
  let bits = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let shift = 7; shift >= 0; shift--) {
      const bit = (byte >> shift) & 1;
      code = code * 2 + bit;
      bits++;
      if (bit === 0) allOnes = false;
      const rel = code - FIRST_CODE[bits];
      if (COUNT[bits] > 0 && rel >= 0 && rel < COUNT[bits]) {
        const sym = SORTED[FIRST_INDEX[bits] + rel];
        if (sym === EOS) throw huffmanError('contains the EOS symbol');
        out[n++] = sym;
        code = 0;
        bits = 0;
        allOnes = true;
      } else if (bits >= MAX_BITS) {
        throw huffmanError('has a code longer than any in the table'); // cannot happen: the code is complete
      }
    }
  }
  if (bits > 7) throw huffmanError('ends with more than 7 bits of padding');
  if (!allOnes) throw huffmanError('ends with padding that is not all ones');
  return out.toString('latin1', 0, n);
}
