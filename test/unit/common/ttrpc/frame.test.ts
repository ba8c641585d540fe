import t from 'tap';
import { decodeHeader, encodeFrame, encodeHeader, Flag, HEADER_LENGTH, MAX_FRAME_LENGTH, MessageType } from '../../../../common/ttrpc/frame';
import { FrameParser } from '../../../../common/ttrpc/parser';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, EnvelopeError } from '../../../../common/ttrpc/messages';

t.test('header codec matches the upstream layout', async (t) => {
  const cases = [
    { desc: 'small request', h: { length: 5, streamId: 1, type: 1, flags: 1 }, hex: '00000005000000010101' },
    { desc: 'max values', h: { length: 0xffffffff, streamId: 0xffffffff, type: 255, flags: 255 }, hex: 'ffffffffffffffffffff' },
    { desc: 'data with noData|remoteClosed', h: { length: 0, streamId: 7, type: 3, flags: 5 }, hex: '00000000000000070305' },
  ];
  for (const c of cases) {
    const b = encodeHeader(c.h);
    t.equal(b.toString('hex'), c.hex, c.desc);
    t.same(decodeHeader(b), c.h, `${c.desc}: decodes back`);
  }
  t.equal(MAX_FRAME_LENGTH, 4 * 1024 * 1024, 'cap is 4 MiB');
  t.same([MessageType.REQUEST, MessageType.RESPONSE, MessageType.DATA], [1, 2, 3], 'message types');
  t.same([Flag.REMOTE_CLOSED, Flag.REMOTE_OPEN, Flag.NO_DATA], [1, 2, 4], 'flags');
});

t.test('parser reassembles frames split at every byte boundary', async (t) => {
  const stream = Buffer.concat([
    encodeFrame(1, MessageType.REQUEST, 1, Buffer.from('hello')),
    encodeFrame(3, MessageType.DATA, 4, Buffer.alloc(0)),
    encodeFrame(5, MessageType.RESPONSE, 0, Buffer.from('world!')),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new FrameParser();
    const a = p.push(stream.subarray(0, cut));
    const b = p.push(stream.subarray(cut));
    const frames = [...a.frames, ...b.frames];
    if (frames.length !== 3 || a.violation || b.violation) {
      t.fail(`cut at ${cut}: got ${frames.length} frames`);
      return;
    }
    t.equal(frames[2].payload.toString(), 'world!', `cut at ${cut}`);
  }
  const p = new FrameParser();
  const frames = [];
  for (const byte of stream) frames.push(...p.push(Buffer.from([byte])).frames);
  t.same(
    frames.map((f) => [f.streamId, f.type, f.flags, f.payload.toString()]),
    [
      [1, 1, 1, 'hello'],
      [3, 3, 4, ''],
      [5, 2, 0, 'world!'],
    ],
    'one byte at a time',
  );
});

t.test('parser rejects violations before buffering the payload', async (t) => {
  const cases = [
    { desc: 'length one over the cap', header: { length: MAX_FRAME_LENGTH + 1, streamId: 1, type: 2, flags: 0 }, reason: /exceeds/ },
    { desc: 'length 4 GiB', header: { length: 0xffffffff, streamId: 1, type: 2, flags: 0 }, reason: /exceeds/ },
    { desc: 'unknown type 0', header: { length: 0, streamId: 1, type: 0, flags: 0 }, reason: /unknown message type/ },
    { desc: 'unknown type 4 (control)', header: { length: 3, streamId: 1, type: 4, flags: 0 }, reason: /unknown message type/ },
    { desc: 'stream id 0', header: { length: 1, streamId: 0, type: 2, flags: 0 }, reason: /reserved/ },
  ];
  for (const c of cases) {
    const p = new FrameParser();
    const r = p.push(Buffer.concat([encodeHeader(c.header), Buffer.alloc(1000)]));
    t.match(r.violation?.reason, c.reason, c.desc);
    t.ok(p.maxBuffered <= HEADER_LENGTH, `${c.desc}: buffered at most a header (${p.maxBuffered})`);
    t.ok(p.push(encodeFrame(1, 2, 0, Buffer.from('x'))).violation, `${c.desc}: stays poisoned`);
  }
  const p = new FrameParser();
  t.notOk(p.push(encodeHeader({ length: MAX_FRAME_LENGTH, streamId: 1, type: 3, flags: 0 })).violation, 'exactly the cap is allowed');
});

t.test('envelope messages round-trip and reject malformed input', async (t) => {
  const req = { service: 'vmpod.agent.v1.AgentService', method: 'Health', payload: Buffer.from([1, 2, 3]), timeoutNano: 5_000_000_000, metadata: [{ key: 'k', value: 'v' }] };
  const back = decodeRequest(encodeRequest(req));
  t.same({ ...back, payload: Buffer.from(back.payload) }, req, 'request');
  const resp = decodeResponse(encodeResponse({ status: { code: 5, message: 'gone' }, payload: Buffer.from('p') }));
  t.same(resp.status, { code: 5, message: 'gone' }, 'response status');
  t.equal(Buffer.from(resp.payload).toString(), 'p', 'response payload');
  t.equal(decodeResponse(encodeResponse({ payload: new Uint8Array(0) })).status, undefined, 'OK response has no status');
  const bad = [
    { desc: 'truncated varint', b: Buffer.from([0x0a, 0xff]) },
    { desc: 'length past end', b: Buffer.from([0x0a, 0x10, 0x41]) },
    { desc: 'service name too long', b: Buffer.from(encodeRequest({ ...req, service: 'x'.repeat(300) })) },
    { desc: 'bad wire type', b: Buffer.from([0x0f]) },
  ];
  for (const c of bad) t.throws(() => decodeRequest(c.b), EnvelopeError, c.desc);
});

t.test('a full-cap frame is buffered within header + cap', async (t) => {
  const p = new FrameParser();
  const frame = encodeFrame(1, MessageType.DATA, 0, Buffer.alloc(MAX_FRAME_LENGTH, 1));
  const frames = [];
  for (let off = 0; off < frame.length; off += 65536) frames.push(...p.push(frame.subarray(off, off + 65536)).frames);
  t.equal(frames.length, 1, 'one frame');
  t.equal(frames[0].payload.length, MAX_FRAME_LENGTH, 'whole payload');
  t.ok(p.maxBuffered <= MAX_FRAME_LENGTH + HEADER_LENGTH, `max buffered ${p.maxBuffered}`);
  t.equal(p.buffered, 0, 'nothing left over');
});
