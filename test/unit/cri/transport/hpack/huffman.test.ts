import t from 'tap';
import { HUFFMAN_CODES, huffmanDecode } from '../../../../../src/cri/transport/hpack/huffman';
import { huffmanEncode } from '../hpack-test-encoder';

const hex = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex');
const decode = (b: Buffer) => huffmanDecode(b, 0, b.length);

t.test('codes derived from the lengths are RFC 7541 Appendix B', async (t) => {
  const appendixB: Array<{ desc: string; sym: number; code: number; bits: number }> = [
    { desc: 'NUL', sym: 0, code: 0x1ff8, bits: 13 },
    { desc: "'0', a shortest code", sym: 0x30, code: 0x0, bits: 5 },
    { desc: "'a'", sym: 0x61, code: 0x3, bits: 5 },
    { desc: "' '", sym: 0x20, code: 0x14, bits: 6 },
    { desc: "'/'", sym: 0x2f, code: 0x18, bits: 6 },
    { desc: "'%'", sym: 0x25, code: 0x15, bits: 6 },
    { desc: "'~'", sym: 0x7e, code: 0x1ffd, bits: 13 },
    { desc: 'LF, a 30-bit code', sym: 0x0a, code: 0x3ffffffc, bits: 30 },
    { desc: '0x80', sym: 0x80, code: 0xfffe6, bits: 20 },
    { desc: '0xff', sym: 0xff, code: 0x3ffffee, bits: 26 },
    { desc: 'EOS', sym: 256, code: 0x3fffffff, bits: 30 },
  ];
  for (const c of appendixB) t.same(HUFFMAN_CODES[c.sym], { code: c.code, bits: c.bits }, c.desc);
  t.equal(HUFFMAN_CODES.length, 257);
  t.equal(
    HUFFMAN_CODES.reduce((s, c) => s + 2 ** -c.bits, 0),
    1,
    'a complete prefix code (Kraft sum 1)',
  );
});

t.test('RFC 7541 Appendix C.4 and C.6 strings decode', async (t) => {
  const vectors: Array<{ desc: string; coded: string; text: string }> = [
    { desc: 'C.4.1 :authority', coded: 'f1e3 c2e5 f23a 6ba0 ab90 f4ff', text: 'www.example.com' },
    { desc: 'C.4.2 cache-control', coded: 'a8eb 1064 9cbf', text: 'no-cache' },
    { desc: 'C.4.3 name', coded: '25a8 49e9 5ba9 7d7f', text: 'custom-key' },
    { desc: 'C.4.3 value', coded: '25a8 49e9 5bb8 e8b4 bf', text: 'custom-value' },
    { desc: 'C.6.1 :status', coded: '6402', text: '302' },
    { desc: 'C.6.1 cache-control', coded: 'aec3 771a 4b', text: 'private' },
    { desc: 'C.6.1 date', coded: 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', text: 'Mon, 21 Oct 2013 20:13:21 GMT' },
    { desc: 'C.6.1 location', coded: '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', text: 'https://www.example.com' },
    { desc: 'C.6.2 :status', coded: '640e ff', text: '307' },
    { desc: 'C.6.3 content-encoding', coded: '9bd9 ab', text: 'gzip' },
    {
      desc: 'C.6.3 set-cookie',
      coded: '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      text: 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
    },
    { desc: 'the empty string', coded: '', text: '' },
  ];
  for (const v of vectors) {
    t.equal(decode(hex(v.coded)), v.text, v.desc);
    t.same(huffmanEncode(v.text), hex(v.coded), `${v.desc}: the test encoder agrees`);
  }
});

t.test('every byte value survives a round trip', async (t) => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  t.equal(decode(huffmanEncode(all)), all);
  const socketPath = '/run/vmpod/vmpod.sock';
  t.equal(decode(huffmanEncode(socketPath)), socketPath);
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    let s = '';
    const n = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 40;
    for (let j = 0; j < n; j++) s += String.fromCharCode((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    if (decode(huffmanEncode(s)) !== s) t.fail(`round trip of ${JSON.stringify(s)}`);
  }
});

t.test('malformed strings are decoding errors (RFC 7541 5.2)', async (t) => {
  const bad: Array<{ desc: string; coded: string; problem: RegExp }> = [
    { desc: 'a string that is the EOS code', coded: 'ffff fffc', problem: /EOS/ },
    { desc: "'a' then 11 bits of ones", coded: '1fff', problem: /more than 7 bits of padding/ },
    { desc: 'a whole byte of padding alone', coded: 'ff', problem: /more than 7 bits of padding/ },
    { desc: "'a' padded with zeros", coded: '18', problem: /padding that is not all ones/ },
    { desc: "'a' padded with 101", coded: '1d', problem: /padding that is not all ones/ },
  ];
  for (const b of bad) {
    const err = (() => {
      try {
        decode(hex(b.coded));
      } catch (e) {
        return e as Error & { code?: string };
      }
      return undefined;
    })();
    t.match(err?.message, b.problem, b.desc);
    t.equal(err?.code, 'INVALID_ARGUMENT', `${b.desc}: typed error`);
  }
});
