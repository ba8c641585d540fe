// The frame codec: golden bytes computed by hand from the SPDY/3 layout
// (the same bytes moby/spdystream's framer writes), round trips through the
// bounded parser, and malformed or oversized input rejected.

import t from 'tap';
import {
  encodeData,
  encodeGoAway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
} from '../../../../src/streaming/spdy/frame';
import { FrameParser } from '../../../../src/streaming/spdy/frame-parser';
import { SpdyProtocolError } from '../../../../src/streaming/spdy/errors';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('golden bytes', async (t) => {
  const cases: { name: string; frame: Buffer; bytes: string }[] = [
    { name: 'PING id 1', frame: encodePing(1), bytes: '8003 0006 00000004 00000001' },
    { name: 'RST_STREAM stream 3 CANCEL', frame: encodeRstStream(3, 5), bytes: '8003 0003 00000008 00000003 00000005' },
    { name: 'GOAWAY last 7 OK', frame: encodeGoAway(7, 0), bytes: '8003 0007 00000008 00000007 00000000' },
    { name: 'WINDOW_UPDATE stream 1 +65536', frame: encodeWindowUpdate(1, 65536), bytes: '8003 0009 00000008 00000001 00010000' },
    { name: 'DATA stream 1 "hi" FIN', frame: encodeData(1, Buffer.from('hi'), FLAG_FIN), bytes: '00000001 01000002 6869' },
    { name: 'DATA stream 2 empty', frame: encodeData(2, Buffer.alloc(0)), bytes: '00000002 00000000' },
    { name: 'SETTINGS one entry', frame: encodeSettings([{ flags: 1, id: 7, value: 65536 }]), bytes: '8003 0004 0000000c 00000001 01000007 00010000' },
    { name: 'SYN_STREAM 1, FIN, block ab', frame: encodeSynStream(1, hex('ab'), FLAG_FIN), bytes: '8003 0001 0100000b 00000001 00000000 00 00 ab' },
    { name: 'SYN_REPLY 1, block cd', frame: encodeSynReply(1, hex('cd')), bytes: '8003 0002 00000005 00000001 cd' },
    { name: 'HEADERS 5, block ef', frame: encodeHeaders(5, hex('ef')), bytes: '8003 0008 00000005 00000005 ef' },
  ];
  for (const c of cases) t.equal(c.frame.toString('hex'), hex(c.bytes).toString('hex'), c.name);
});

t.test('round trips through the parser, fed one byte at a time', async (t) => {
  const frames = [
    encodeSynStream(3, hex('0102'), FLAG_UNIDIRECTIONAL, 1, 2),
    encodeSynReply(3, hex('03')),
    encodeHeaders(3, hex('04'), FLAG_FIN),
    encodeData(3, Buffer.from('payload'), FLAG_FIN),
    encodeRstStream(3, 1),
    encodeSettings([{ flags: 0, id: 4, value: 100 }]),
    encodePing(2),
    encodeGoAway(5, 1),
    encodeWindowUpdate(0, 1000),
  ];
  const p = new FrameParser();
  const all = Buffer.concat(frames);
  const got: unknown[] = [];
  for (let i = 0; i < all.length; i++) {
    p.push(all.subarray(i, i + 1));
    for (let f = p.next(); f; f = p.next()) got.push(f);
  }
  t.same(got, [
    { type: 'syn_stream', flags: FLAG_UNIDIRECTIONAL, streamId: 3, associatedId: 1, priority: 2, block: hex('0102') },
    { type: 'syn_reply', flags: 0, streamId: 3, block: hex('03') },
    { type: 'headers', flags: FLAG_FIN, streamId: 3, block: hex('04') },
    { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('payload') },
    { type: 'rst_stream', streamId: 3, status: 1 },
    { type: 'settings', flags: 0, entries: [{ flags: 0, id: 4, value: 100 }] },
    { type: 'ping', id: 2 },
    { type: 'goaway', lastGoodStreamId: 5, status: 1 },
    { type: 'window_update', streamId: 0, delta: 1000 },
  ]);
  t.equal(p.buffered, 0, 'nothing left over');
});

t.test('malformed or oversized frames are refused, before their payload is buffered', async (t) => {
  const cases: { name: string; bytes: Buffer; error: RegExp }[] = [
    { name: 'SPDY/2 control frame', bytes: hex('8002 0006 00000004 00000001'), error: /version 2/ },
    { name: 'unknown control type', bytes: hex('8003 0005 00000000'), error: /unknown control frame type 5/ },
    { name: 'DATA on stream 0', bytes: hex('00000000 00000001 00'), error: /stream 0/ },
    { name: 'control frame over the cap (length only)', bytes: hex('8003 0001 00010001'), error: /exceeds/ },
    { name: 'DATA frame over the cap (length only)', bytes: hex('00000001 00100001'), error: /exceeds/ },
    { name: 'PING of 3 bytes', bytes: hex('8003 0006 00000003 000000'), error: /PING/ },
    { name: 'GOAWAY of 4 bytes (SPDY/2 size)', bytes: hex('8003 0007 00000004 00000001'), error: /GOAWAY/ },
    { name: 'RST_STREAM with status 0', bytes: hex('8003 0003 00000008 00000001 00000000'), error: /status 0/ },
    { name: 'RST_STREAM on stream 0', bytes: hex('8003 0003 00000008 00000000 00000005'), error: /stream 0/ },
    { name: 'SYN_STREAM shorter than its fixed fields', bytes: hex('8003 0001 00000004 00000001'), error: /SYN_STREAM/ },
    { name: 'SYN_STREAM on stream 0', bytes: hex('8003 0001 0000000a 00000000 00000000 0000'), error: /stream 0/ },
    { name: 'SETTINGS announcing more entries than it holds', bytes: hex('8003 0004 00000004 00000100'), error: /SETTINGS/ },
  ];
  for (const c of cases) {
    const p = new FrameParser({ maxDataPayload: 1 << 20, maxControlPayload: 64 << 10 });
    p.push(c.bytes);
    t.throws(() => p.next(), c.error, c.name);
    try {
      p.next();
    } catch (err) {
      t.ok(err instanceof SpdyProtocolError, `${c.name}: a SpdyProtocolError`);
    }
  }
});

t.test('an incomplete frame waits for more bytes', async (t) => {
  const p = new FrameParser();
  const f = encodeData(1, Buffer.alloc(100));
  p.push(f.subarray(0, 50));
  t.equal(p.next(), null, 'half a frame: nothing yet');
  p.push(f.subarray(50));
  t.match(p.next(), { type: 'data', streamId: 1 }, 'the rest completes it');
});
