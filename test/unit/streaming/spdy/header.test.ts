// Header blocks: the name/value encoding, its limits, and the two zlib
// contexts of a connection (ours writes stored blocks; the inflater takes
// what a real deflater, with the dictionary and a sync flush per block,
// writes) across many blocks, as on one connection.

import t from 'tap';
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from '../../../../src/streaming/spdy/dictionary';
import { decodeHeaderBlock, encodeHeaderBlock } from '../../../../src/streaming/spdy/header-block';
import { adler32, HeaderDeflater, HeaderInflater } from '../../../../src/streaming/spdy/header-zlib';
import { SpdyProtocolError } from '../../../../src/streaming/spdy/errors';

t.test('the dictionary is the SPDY/3 one', async (t) => {
  t.equal(SPDY3_DICTIONARY.length, 1423, '1,423 bytes');
  t.equal(adler32(SPDY3_DICTIONARY), 0xe3c6a7c2, 'its Adler-32, the dictionary id in every zlib header');
  t.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398, 'Adler-32 of the textbook example');
});

t.test('name/value block: golden bytes and round trip', async (t) => {
  const block = encodeHeaderBlock({ StreamType: 'stdin' });
  t.equal(
    block.toString('hex'),
    '00000001' + '0000000a' + Buffer.from('streamtype').toString('hex') + '00000005' + Buffer.from('stdin').toString('hex'),
    'count, then length-prefixed lower-cased name and value',
  );
  t.same({ ...decodeHeaderBlock(encodeHeaderBlock({ a: '1', port: '8080', empty: '' })) }, { a: '1', port: '8080', empty: '' });
  t.same({ ...decodeHeaderBlock(encodeHeaderBlock({})) }, {}, 'an empty block');
  const twoValues = Buffer.concat([encodeHeaderBlock({ x: 'first\0second' })]);
  t.same({ ...decodeHeaderBlock(twoValues) }, { x: 'first' }, 'NUL-separated values: the first is kept');
});

t.test('name/value block limits and malformations', async (t) => {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const cases: { name: string; block: Buffer; error: RegExp }[] = [
    { name: 'too many pairs', block: u32(129), error: /pairs exceeds/ },
    { name: 'a name longer than the block', block: Buffer.concat([u32(1), u32(1000), Buffer.from('ab')]), error: /ends inside a header name/ },
    { name: 'truncated before the value', block: Buffer.concat([u32(1), u32(1), Buffer.from('a')]), error: /ends inside/ },
    { name: 'trailing bytes', block: Buffer.concat([encodeHeaderBlock({ a: 'b' }), Buffer.from('zz')]), error: /after its last pair/ },
    { name: 'an empty name', block: encodeHeaderBlock({ '': 'v' }), error: /empty name/ },
    { name: 'a block over the byte limit', block: Buffer.alloc((64 << 10) + 1), error: /byte limit/ },
  ];
  for (const c of cases) t.throws(() => decodeHeaderBlock(c.block), c.error, c.name);
  t.throws(() => decodeHeaderBlock(u32(129)), SpdyProtocolError, 'a SpdyProtocolError');
});

t.test('our deflater writes one zlib stream a dictionary-primed inflater reads block by block', async (t) => {
  const d = new HeaderDeflater();
  const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  inflate.on('data', (c: Buffer) => out.push(c));
  const blocks = [encodeHeaderBlock({ streamtype: 'error' }), encodeHeaderBlock({}), Buffer.alloc(70000, 7), encodeHeaderBlock({ port: '80' })];
  for (const b of blocks) {
    const compressed = d.deflate(b);
    await new Promise<void>((resolve) => {
      inflate.write(compressed);
      inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
    const got = Buffer.concat(out.splice(0));
    t.ok(got.equals(b), `a block of ${b.length} bytes comes out whole, at its flush`);
  }
  inflate.destroy();
});

t.test('every block we send ends in the sync-flush marker (Go could not read the second SYN_REPLY without it)', async (t) => {
  const d = new HeaderDeflater();
  const first = d.deflate(encodeHeaderBlock({}));
  t.equal(first.subarray(0, 6).toString('hex'), '783fe3c6a7c2', 'the first block opens the zlib stream: FDICT and the dictionary id');
  t.equal(first.subarray(6).toString('hex'), '000400fbff00000000' + '000000ffff', 'a stored block with the empty header block, then the marker');
  const second = d.deflate(encodeHeaderBlock({}));
  t.equal(second.toString('hex'), '000400fbff00000000' + '000000ffff', 'later blocks continue the stream: no zlib header again');
  t.equal(d.deflate(Buffer.alloc(0)).toString('hex'), '000000ffff', 'an empty input is the marker alone');
});

t.test('our inflater reads a real deflate stream (dictionary, sync flush per block) and keeps its context', async (t) => {
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const compress = (b: Buffer): Promise<Buffer> =>
    new Promise((resolve) => {
      deflate.write(b);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out.splice(0))));
    });
  const inflater = new HeaderInflater(64 << 10);
  t.teardown(() => inflater.close());
  const blocks = [encodeHeaderBlock({ streamtype: 'stdin', requestid: '1' }), encodeHeaderBlock({ streamtype: 'stdin', requestid: '1' }), encodeHeaderBlock({}), Buffer.alloc(50000, 1)];
  for (const b of blocks) {
    const compressed = await compress(b);
    t.ok((await inflater.inflate(compressed)).equals(b), `a block of ${b.length} bytes (${compressed.length} compressed)`);
  }
  deflate.destroy();
});

t.test('a block that inflates beyond the cap is stopped, and the inflater stays failed', async (t) => {
  const bomb = zlib.deflateSync(Buffer.alloc(50 << 20), { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  t.ok(bomb.length < 100 << 10, `a small frame (${bomb.length} bytes)`);
  const inflater = new HeaderInflater(64 << 10);
  await t.rejects(inflater.inflate(bomb), /inflates beyond the 65536-byte limit/);
  await t.rejects(inflater.inflate(Buffer.alloc(1)), /inflates beyond/, 'later blocks fail too: the context is gone');
});

t.test('garbage does not inflate', async (t) => {
  const inflater = new HeaderInflater(64 << 10);
  await t.rejects(inflater.inflate(Buffer.from('not zlib at all')), SpdyProtocolError);
});
