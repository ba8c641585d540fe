import t from 'tap';
import { decodeInteger, encodeInteger, integerLength, MAX_INTEGER } from '../../../../../src/cri/transport/hpack/integer';

t.test('RFC 7541 Appendix C.1 examples, both ways', async (t) => {
  const cases: Array<{ desc: string; value: number; prefix: number; bytes: number[] }> = [
    { desc: 'C.1.1: 10 in a 5-bit prefix', value: 10, prefix: 5, bytes: [0x0a] },
    { desc: 'C.1.2: 1337 in a 5-bit prefix', value: 1337, prefix: 5, bytes: [0x1f, 0x9a, 0x0a] },
    { desc: 'C.1.3: 42 at an octet boundary', value: 42, prefix: 8, bytes: [0x2a] },
    { desc: 'exactly the prefix mask needs a zero continuation', value: 31, prefix: 5, bytes: [0x1f, 0x00] },
    { desc: '4096 as a table size update', value: 4096, prefix: 5, bytes: [0x1f, 0xe1, 0x1f] },
  ];
  for (const c of cases) {
    const out = Buffer.alloc(8);
    const end = encodeInteger(out, 0, c.value, c.prefix, 0);
    t.same([...out.subarray(0, end)], c.bytes, `${c.desc}: encoded`);
    t.equal(integerLength(c.value, c.prefix), c.bytes.length, `${c.desc}: length`);
    t.same(decodeInteger(Buffer.from(c.bytes), 0, c.bytes.length, c.prefix), [c.value, c.bytes.length], `${c.desc}: decoded`);
  }
});

t.test('the flag bits above the prefix are neither read nor lost', async (t) => {
  const out = Buffer.alloc(4);
  encodeInteger(out, 0, 3, 4, 0x10);
  t.equal(out[0], 0x13);
  t.same(decodeInteger(Buffer.from([0xff, 0x00]), 0, 2, 7), [127, 2], 'a set H bit is not part of the integer');
});

t.test('truncated and oversized integers are decoding errors', async (t) => {
  const bad: Array<{ desc: string; bytes: number[]; problem: RegExp }> = [
    { desc: 'continuation bit set on the last byte of the block', bytes: [0x1f, 0x80], problem: /runs past the end/ },
    { desc: 'prefix full and nothing after', bytes: [0x1f], problem: /runs past the end/ },
    { desc: 'larger than 2^31-1', bytes: [0x1f, 0xff, 0xff, 0xff, 0xff, 0x0f], problem: new RegExp(`exceeds ${MAX_INTEGER}`) },
  ];
  for (const b of bad) t.throws(() => decodeInteger(Buffer.from(b.bytes), 0, b.bytes.length, 5), { code: 'INVALID_ARGUMENT', message: b.problem }, b.desc);
});
