import t from 'tap';
import { CLIENT_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, readFrameHeader, type FrameHeader } from '../../../../src/cri/transport/frame';
import { HpackDecoder, type HeaderField } from '../../../../src/cri/transport/hpack/decoder';
import { DEFAULT_REWRITE_LIMITS, RequestRewriter, type AuthorityRewrite } from '../../../../src/cri/transport/request-rewriter';
import { TestHpackEncoder } from './hpack-test-encoder';
import { CLIENT_OPENING, frame, grpcRequestHeaders } from './raw-h2-client';

const SOCK = '/run/vmpod/vmpod.sock';
const ENCODED_SOCK = '%2Frun%2Fvmpod%2Fvmpod.sock';

interface Frame extends FrameHeader {
  payload: Buffer;
}

function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const h = readFrameHeader(bytes, pos);
    out.push({ ...h, payload: bytes.subarray(pos + FRAME_HEADER_LENGTH, pos + FRAME_HEADER_LENGTH + h.length) });
    pos += FRAME_HEADER_LENGTH + h.length;
  }
  return out;
}

/** What the server (a fresh HPACK decoder, as nghttp2 keeps one per connection) reads from the rewriter's output. */
function serverView(out: Buffer): { frames: Frame[]; blocks: Array<{ streamId: number; flags: number; fields: HeaderField[] }>; server: HpackDecoder } {
  t.ok(out.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE), 'the preface is passed on');
  const all = frames(out.subarray(CLIENT_PREFACE.length));
  const server = new HpackDecoder(4096);
  const blocks: Array<{ streamId: number; flags: number; fields: HeaderField[] }> = [];
  let open: { streamId: number; flags: number; parts: Buffer[] } | undefined;
  for (const f of all) {
    if (f.type === FrameType.HEADERS) {
      t.equal(f.flags & Flag.PADDED, 0, 'no padding is sent on');
      open = { streamId: f.streamId, flags: f.flags, parts: [f.flags & Flag.PRIORITY ? f.payload.subarray(5) : f.payload] };
    } else if (f.type === FrameType.CONTINUATION) open!.parts.push(f.payload);
    else continue;
    if (f.flags & Flag.END_HEADERS) {
      blocks.push({ streamId: open!.streamId, flags: open!.flags, fields: server.decode(Buffer.concat(open!.parts), 1 << 20) });
      open = undefined;
    }
  }
  return { frames: all, blocks, server };
}

function run(rewriter: RequestRewriter, input: Buffer, chunkSizes?: number[]): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < input.length) {
    const n = chunkSizes ? chunkSizes[i++ % chunkSizes.length] : input.length;
    out.push(...rewriter.push(input.subarray(pos, pos + n)));
    pos += n;
  }
  return Buffer.concat(out);
}

const f = (name: string, value: string, neverIndexed = false): HeaderField => ({ name, value, neverIndexed });

t.test('frames other than header blocks pass byte for byte, however the bytes arrive', async (t) => {
  const input = Buffer.concat([
    CLIENT_OPENING,
    frame(FrameType.WINDOW_UPDATE, 0, 0, [0, 0x0f, 0, 1]),
    frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)),
    frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(3000, 0xab)),
    frame(FrameType.PRIORITY, 0, 3, [0, 0, 0, 1, 16]),
    frame(FrameType.RST_STREAM, 0, 3, [0, 0, 0, 8]),
    frame(0xfa, 0x3, 0, [1, 2, 3]), // an extension frame type
    frame(FrameType.GOAWAY, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]),
  ]);
  for (const sizes of [undefined, [1], [2, 3, 5], [9], [10, 24, 25], [4096]]) {
    const rw = new RequestRewriter();
    const pieces: Buffer[] = [];
    let pos = 0;
    let i = 0;
    while (pos < input.length) {
      const n = sizes ? sizes[i++ % sizes.length] : input.length;
      pieces.push(...rw.push(input.subarray(pos, pos + n)));
      pos += n;
    }
    t.ok(Buffer.concat(pieces).equals(input), `chunks of ${sizes?.join('/') ?? 'all'}: identical output`);
  }
  const rw = new RequestRewriter();
  const once = rw.push(input);
  t.equal(once.length, 1, 'one chunk of pass-through frames comes out as one piece');
  t.equal(once[0].buffer, input.buffer, 'a slice of the input, not a copy');
});

t.test('a header block is decoded and re-sent as literals; only the authority changes', async (t) => {
  const enc = new TestHpackEncoder({ huffman: true, indexing: true });
  const changes: AuthorityRewrite[] = [];
  const rw = new RequestRewriter(DEFAULT_REWRITE_LIMITS, (c) => changes.push(c));
  const sent = [...grpcRequestHeaders('/runtime.v1.RuntimeService/Version', SOCK, [['authorization', 'x']]).map(([n, v]) => f(n, v)), f('x-secret', 's3cr3t', true)];
  const requests = [1, 3, 5].map((id) => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, enc.encode(sent)));
  t.ok(requests[1].length < requests[0].length / 3, 'the later requests refer to the client dynamic table (what makes decoding necessary)');
  const view = serverView(run(rw, Buffer.concat([CLIENT_OPENING, ...requests])));
  t.equal(view.blocks.length, 3);
  for (const b of view.blocks) {
    t.same(
      b.fields,
      sent.map((x) => (x.name === ':authority' ? f(':authority', ENCODED_SOCK) : x)),
      `stream ${b.streamId}: same fields, order and never-indexed flags; the authority percent-encoded`,
    );
    t.equal(b.flags, Flag.END_HEADERS | Flag.END_STREAM, `stream ${b.streamId}: END_STREAM kept`);
  }
  t.equal(view.server.tableSize, 0, 'the server dynamic table stays empty');
  t.same(
    changes.map((c) => [c.streamId, c.name, c.from, c.to]),
    [1, 3, 5].map((id) => [id, ':authority', SOCK, ENCODED_SOCK]),
  );
});

t.test('host is treated like :authority; other fields are never touched', async (t) => {
  const enc = new TestHpackEncoder({ huffman: false, indexing: false });
  const sent = [f(':method', 'POST'), f(':path', '/x'), f(':scheme', 'http'), f('host', SOCK), f('x-path', SOCK), f('X-Upper', SOCK)];
  const view = serverView(run(new RequestRewriter(), Buffer.concat([CLIENT_OPENING, frame(FrameType.HEADERS, Flag.END_HEADERS, 1, enc.encode(sent))])));
  t.same(view.blocks[0].fields, [...sent.slice(0, 3), f('host', ENCODED_SOCK), ...sent.slice(4)]);
});

t.test('PADDED and PRIORITY: padding dropped, priority fields and END_STREAM kept', async (t) => {
  const enc = new TestHpackEncoder({ huffman: true, indexing: true });
  const block = enc.encode([
    [':method', 'POST'],
    [':authority', SOCK],
  ]);
  const priority = [0x80, 0, 0, 1, 200]; // exclusive, depends on stream 1, weight 201
  const payload = Buffer.concat([Buffer.from([7]), Buffer.from(priority), block, Buffer.alloc(7)]);
  const view = serverView(run(new RequestRewriter(), Buffer.concat([CLIENT_OPENING, frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY, 3, payload)])));
  const h = view.frames.find((x) => x.type === FrameType.HEADERS)!;
  t.equal(h.flags, Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY);
  t.same([...h.payload.subarray(0, 5)], priority, 'the same priority bytes');
  t.same(view.blocks[0].fields, [f(':method', 'POST'), f(':authority', ENCODED_SOCK)]);
});

t.test('CONTINUATION in, and a block too large for one frame split into CONTINUATION out', async (t) => {
  const enc = new TestHpackEncoder({ huffman: false, indexing: false });
  const big = Array.from({ length: 20 }, (_, i) => f(`x-big-${i}`, String.fromCharCode(97 + i).repeat(2000)));
  const sent = [f(':method', 'POST'), f(':authority', SOCK), ...big];
  const block = enc.encode(sent);
  t.ok(block.length > 2 * 16384, 'the block needs three frames');
  const input = Buffer.concat([
    CLIENT_OPENING,
    frame(FrameType.HEADERS, Flag.PRIORITY, 1, Buffer.concat([Buffer.from([0, 0, 0, 0, 15]), block.subarray(0, 10_000)])),
    frame(FrameType.CONTINUATION, 0, 1, block.subarray(10_000, 25_000)),
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(25_000)),
    frame(FrameType.DATA, Flag.END_STREAM, 1, [0, 0, 0, 0, 0]),
  ]);
  for (const sizes of [undefined, [1000], [7, 16393]]) {
    const view = serverView(run(new RequestRewriter(), input, sizes));
    const kinds = view.frames.filter((x) => x.type !== FrameType.SETTINGS).map((x) => [x.type, x.flags]);
    t.same(
      kinds,
      [
        [FrameType.HEADERS, Flag.PRIORITY],
        [FrameType.CONTINUATION, 0],
        [FrameType.CONTINUATION, Flag.END_HEADERS],
        [FrameType.DATA, Flag.END_STREAM],
      ],
      `chunks of ${sizes?.join('/') ?? 'all'}: HEADERS, CONTINUATION, CONTINUATION (END_HEADERS), then the DATA`,
    );
    t.ok(
      view.frames.every((x) => x.length <= 16384),
      'no frame exceeds SETTINGS_MAX_FRAME_SIZE',
    );
    t.equal(view.frames.find((x) => x.type === FrameType.HEADERS)!.length, 16384, 'the first frame is full, priority fields included');
    t.same(view.blocks[0].fields, [f(':method', 'POST'), f(':authority', ENCODED_SOCK), ...big]);
  }
});

t.test('a client that changes its table size with updates is followed', async (t) => {
  const enc = new TestHpackEncoder({ huffman: true, indexing: true });
  const req = [f(':method', 'POST'), f(':authority', SOCK), f('x-n', 'v')];
  const input = Buffer.concat([
    CLIENT_OPENING,
    frame(FrameType.HEADERS, Flag.END_HEADERS, 1, enc.encode(req)),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 3, enc.encode(req, [0, 4096])),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 5, enc.encode(req, [64])),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 7, enc.encode(req)),
  ]);
  const view = serverView(run(new RequestRewriter(), input));
  const want = [f(':method', 'POST'), f(':authority', ENCODED_SOCK), f('x-n', 'v')];
  t.same(
    view.blocks.map((b) => b.fields),
    [want, want, want, want],
  );
});

const opening = CLIENT_OPENING;
const okBlock = new TestHpackEncoder({ huffman: false, indexing: false }).encode([[':method', 'POST']]);
const violations: Array<{ desc: string; input: Buffer; code: string; message: RegExp; limits?: Partial<typeof DEFAULT_REWRITE_LIMITS> }> = [
  { desc: 'no connection preface (an HTTP/1.1 client)', input: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), code: 'INVALID_ARGUMENT', message: /connection preface/ },
  {
    desc: 'a DATA frame inside a header block',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, 0, 1, okBlock), frame(FrameType.DATA, 0, 1, [1])]),
    code: 'INVALID_ARGUMENT',
    message: /a DATA frame arrived inside the header block of stream 1/,
  },
  {
    desc: 'a CONTINUATION with no HEADERS before it',
    input: Buffer.concat([opening, frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, okBlock)]),
    code: 'INVALID_ARGUMENT',
    message: /continues no header block/,
  },
  {
    desc: 'a CONTINUATION on another stream',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, 0, 1, okBlock), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, okBlock)]),
    code: 'INVALID_ARGUMENT',
    message: /CONTINUATION frame on stream 3 continues no header block/,
  },
  { desc: 'a PUSH_PROMISE from the client', input: Buffer.concat([opening, frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, [0, 0, 0, 2])]), code: 'INVALID_ARGUMENT', message: /PUSH_PROMISE/ },
  {
    desc: 'a HEADERS frame over the max frame size',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.alloc(16385))]),
    code: 'INVALID_ARGUMENT',
    message: /16385 bytes exceeds the 16384/,
  },
  {
    desc: 'a header block over the buffering limit (endless CONTINUATIONs)',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16384)), ...Array.from({ length: 4 }, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384)))]),
    code: 'RESOURCE_EXHAUSTED',
    message: /header block of stream 1 exceeds 65536 bytes/,
    limits: { maxHeaderBlockBytes: 65536 },
  },
  {
    desc: 'more padding than payload',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([10, 0x82]))]),
    code: 'INVALID_ARGUMENT',
    message: /more padding than payload/,
  },
  {
    desc: 'PRIORITY flag with a short payload',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, [0, 0])]),
    code: 'INVALID_ARGUMENT',
    message: /too short for its PRIORITY/,
  },
  { desc: 'PADDED flag with an empty payload', input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, [])]), code: 'INVALID_ARGUMENT', message: /no pad length/ },
  { desc: 'an undecodable header block', input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS, 1, [0x80])]), code: 'INVALID_ARGUMENT', message: /index 0/ },
  {
    desc: 'a table size update above 4096',
    input: Buffer.concat([opening, frame(FrameType.HEADERS, Flag.END_HEADERS, 1, [0x3f, 0xe2, 0x1f])]),
    code: 'INVALID_ARGUMENT',
    message: /4097 exceeds the announced limit 4096/,
  },
];

t.test('what must close the connection throws a typed error, and nothing after it is accepted', async (t) => {
  for (const v of violations) {
    const rw = new RequestRewriter({ ...DEFAULT_REWRITE_LIMITS, ...v.limits });
    t.throws(() => run(rw, v.input, [1000]), { code: v.code, message: v.message }, v.desc);
    t.throws(() => rw.push(Buffer.from(frame(FrameType.PING, 0, 0, Buffer.alloc(8)))), { message: /condemned/ }, `${v.desc}: later bytes refused`);
  }
});

t.test('limits hold however the bytes are chunked: a slow endless header block is refused at the limit', async (t) => {
  const rw = new RequestRewriter({ ...DEFAULT_REWRITE_LIMITS, maxHeaderBlockBytes: 40_000 });
  run(rw, Buffer.concat([opening, frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16384)), frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384))]), [100]);
  t.throws(() => run(rw, frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384)), [100]), { code: 'RESOURCE_EXHAUSTED' });
});
