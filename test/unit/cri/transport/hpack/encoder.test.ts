import t from 'tap';
import { HpackDecoder, type HeaderField } from '../../../../../src/cri/transport/hpack/decoder';
import { encodeLiteralBlock } from '../../../../../src/cri/transport/hpack/encoder';

const f = (name: string, value: string, neverIndexed = false): HeaderField => ({ name, value, neverIndexed });

t.test('literal blocks decode to the same fields and leave the receiver table empty', async (t) => {
  const cases: Array<{ desc: string; fields: HeaderField[] }> = [
    {
      desc: 'a gRPC request',
      fields: [
        f(':method', 'POST'),
        f(':scheme', 'http'),
        f(':path', '/runtime.v1.RuntimeService/Version'),
        f(':authority', '%2Frun%2Fvmpod.sock'),
        f('content-type', 'application/grpc'),
        f('te', 'trailers'),
      ],
    },
    { desc: 'names outside the static table, in their order, duplicates kept', fields: [f('x-a', '1'), f('x-a', '2'), f('grpc-timeout', '10S')] },
    { desc: 'never-indexed stays never-indexed', fields: [f('authorization', 'Bearer secret', true), f('x-b', 'c', true)] },
    { desc: 'empty name and value are carried as they are', fields: [f('', ''), f('x-empty', '')] },
    { desc: 'every byte value, and a length past the 7-bit prefix', fields: [f('x-bytes', String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i)))] },
    { desc: 'upper-case names are not "fixed" (nghttp2 must still see them)', fields: [f('X-Upper', 'v')] },
  ];
  for (const c of cases) {
    const d = new HpackDecoder(4096);
    t.same(d.decode(encodeLiteralBlock(c.fields), 1 << 20), c.fields, c.desc);
    t.equal(d.tableSize, 0, `${c.desc}: nothing was added to the receiver's table`);
  }
});

t.test('representation bytes', async (t) => {
  const cases: Array<{ desc: string; field: HeaderField; hex: string }> = [
    { desc: 'static name index (:authority = 1), literal without indexing', field: f(':authority', 'a'), hex: '010161' },
    { desc: 'static name index 15 needs a continuation byte in a 4-bit prefix', field: f('accept-charset', 'a'), hex: '0f000161' },
    { desc: 'never indexed with a literal name', field: f('x', 'y', true), hex: '1001780179' },
  ];
  for (const c of cases) t.equal(encodeLiteralBlock([c.field]).toString('hex'), c.hex, c.desc);
});
