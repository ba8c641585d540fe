// Encodes header fields as HPACK literals that never touch the receiver's
// dynamic table: "literal without indexing" (RFC 7541 6.2.2), or "never
// indexed" (6.2.3) for a field the client sent so. Names found in the static
// table are sent by index; nothing is Huffman-coded. The receiver's dynamic
// table therefore stays empty for the whole connection, so it cannot drift
// from anything.

import type { HeaderField } from './decoder';
import { encodeInteger, integerLength } from './integer';
import { STATIC_NAME_INDEX } from './static-table';

const WITHOUT_INDEXING = 0x00;
const NEVER_INDEXED = 0x10;

export function encodeLiteralBlock(fields: readonly HeaderField[]): Buffer {
  let size = 0;
  for (const f of fields) {
    const index = STATIC_NAME_INDEX.get(f.name) ?? 0;
    size += integerLength(index, 4);
    if (index === 0) size += integerLength(f.name.length, 7) + f.name.length;
    size += integerLength(f.value.length, 7) + f.value.length;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const f of fields) {
    const index = STATIC_NAME_INDEX.get(f.name) ?? 0;
    pos = encodeInteger(out, pos, index, 4, f.neverIndexed ? NEVER_INDEXED : WITHOUT_INDEXING);
    if (index === 0) {
      pos = encodeInteger(out, pos, f.name.length, 7, 0);
      pos += out.write(f.name, pos, 'latin1');
    }
    pos = encodeInteger(out, pos, f.value.length, 7, 0);
    pos += out.write(f.value, pos, 'latin1');
  }
  return out;
}
