// A hostile peer on a raw socket: every protocol violation tears the session
// down with a SpdyProtocolError (GOAWAY PROTOCOL_ERROR first), never a crash
// or an unbounded buffer, and the socket is closed.

import t from 'tap';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { SpdySession, SpdyProtocolError, type SpdyStream } from '../../../../src/streaming/spdy';
import { SPDY3_DICTIONARY } from '../../../../src/streaming/spdy/dictionary';
import { encodeData, encodePing, encodeSynStream, encodeRstStream } from '../../../../src/streaming/spdy/frame';
import { encodeHeaderBlock } from '../../../../src/streaming/spdy/header-block';
import { HeaderDeflater } from '../../../../src/streaming/spdy/header-zlib';
import { FrameParser } from '../../../../src/streaming/spdy/frame-parser';

/** A server session on one end of a loopback TCP connection, the raw socket on the other. */
async function rawPair(): Promise<{ session: SpdySession; raw: net.Socket; server: net.Server }> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => (accepted = r));
  const server = net.createServer(accepted);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const raw = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const sock = await got;
  const session = new SpdySession(sock, { isServer: true });
  return { session, raw, server };
}

function readAll(raw: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('close', () => resolve(Buffer.concat(chunks)));
    raw.on('error', () => undefined);
  });
}

const violations: { name: string; bytes: () => Buffer; error: RegExp }[] = [
  { name: 'a SPDY/2 frame', bytes: () => Buffer.from('800200060000000400000001', 'hex'), error: /version 2/ },
  { name: 'an unknown control type', bytes: () => Buffer.from('800300ff00000000', 'hex'), error: /unknown control frame/ },
  { name: 'a 16 MiB DATA frame (only its header is sent)', bytes: () => Buffer.from('00000001' + '00ffffff', 'hex'), error: /exceeds/ },
  { name: 'a header block that is not zlib', bytes: () => encodeSynStream(1, Buffer.from('garbage!')), error: /does not inflate/ },
  {
    name: 'a header block that inflates to 50 MiB',
    bytes: () => encodeSynStream(1, zlib.deflateSync(Buffer.alloc(50 << 20), { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH })),
    error: /inflates beyond/,
  },
  {
    name: 'a header block of too many pairs',
    bytes: () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < 1000; i++) headers[`h${i}`] = 'v';
      return encodeSynStream(1, new HeaderDeflater().deflate(encodeHeaderBlock(headers)));
    },
    error: /pairs exceeds/,
  },
];

for (const v of violations) {
  t.test(`teardown on ${v.name}`, async (t) => {
    const { session, raw, server } = await rawPair();
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    session.on('stream', (s: SpdyStream) => s.reply());
    const closed = new Promise<Error | undefined>((r) => session.once('close', r));
    const answer = readAll(raw);
    raw.write(v.bytes());
    const err = await closed;
    t.ok(err instanceof SpdyProtocolError, 'closes with a SpdyProtocolError');
    t.match(err?.message, v.error, 'that says what was wrong');
    const bytes = await answer;
    const p = new FrameParser();
    p.push(bytes);
    t.match(p.next(), { type: 'goaway', status: 1 }, 'the peer was told: GOAWAY PROTOCOL_ERROR');
    t.ok(raw.destroyed || raw.readableEnded, 'the connection is closed');
    raw.destroy();
  });
}

t.test('stream-level mistakes cost only the stream', async (t) => {
  const { session, raw, server } = await rawPair();
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const deflater = new HeaderDeflater();
  const streams: SpdyStream[] = [];
  session.on('stream', (s: SpdyStream) => {
    streams.push(s);
    s.on('error', () => undefined);
    s.reply();
  });
  const parser = new FrameParser();
  const frames: unknown[] = [];
  raw.on('data', (c: Buffer) => {
    parser.push(c);
    for (let f = parser.next(); f; f = parser.next()) frames.push(f);
  });
  // An even (server-parity) id from the client, then a good stream, DATA after FIN, DATA on an unknown stream, a RST for an unknown stream.
  raw.write(encodeSynStream(2, deflater.deflate(encodeHeaderBlock({}))));
  raw.write(encodeSynStream(1, deflater.deflate(encodeHeaderBlock({})), 0));
  raw.write(encodeData(1, Buffer.from('x'), 1));
  raw.write(encodeData(1, Buffer.from('y')));
  raw.write(encodeData(99, Buffer.from('z')));
  raw.write(encodeRstStream(77, 5));
  raw.write(encodePing(1));
  while (!frames.some((f) => (f as { type: string }).type === 'ping')) await new Promise((r) => setImmediate(r));
  t.match(
    frames,
    [
      { type: 'rst_stream', streamId: 2, status: 1 },
      { type: 'syn_reply', streamId: 1 },
      { type: 'rst_stream', streamId: 1, status: 9 },
      { type: 'ping', id: 1 },
    ],
    'wrong-parity id: PROTOCOL_ERROR; DATA after FIN: STREAM_ALREADY_CLOSED; the rest ignored; the session still answers',
  );
  t.equal(streams.length, 1, 'only the good stream was offered');
  t.ok(session.alive, 'the session lives on');
  session.destroy();
  raw.destroy();
});

t.test('DATA followed by RST_STREAM in one read: the data is read first, then the reset error', async (t) => {
  const { session, raw, server } = await rawPair();
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const deflater = new HeaderDeflater();
  const streams: SpdyStream[] = [];
  session.on('stream', (s: SpdyStream) => {
    streams.push(s);
    s.reply();
    // Stream 3's consumer reads only later: what came before the reset waits for it.
    if (s.id === 3) s.pause();
  });
  const outcome = (s: SpdyStream): Promise<{ data: string; err?: Error }> =>
    new Promise((resolve) => {
      if (s.destroyed) return resolve({ data: '', err: new Error('destroyed before it was read') });
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('error', (err) => resolve({ data: Buffer.concat(chunks).toString(), err }));
      s.on('close', () => resolve({ data: Buffer.concat(chunks).toString() }));
    });
  // As kubelet's streaming code in containerd does after an exec: the status on the error stream, then a reset.
  raw.write(
    Buffer.concat([
      encodeSynStream(1, deflater.deflate(encodeHeaderBlock({ streamtype: 'error' })), 0),
      encodeSynStream(3, deflater.deflate(encodeHeaderBlock({ streamtype: 'stdout' })), 0),
      encodeData(1, Buffer.from('{"status":"Success"}')),
      encodeData(3, Buffer.from('late reader')),
      encodeRstStream(1, 5),
      encodeRstStream(3, 2),
      encodePing(1),
    ]),
  );
  while (streams.length < 2) await new Promise((r) => setImmediate(r));
  const [first, second] = streams;
  const got = await outcome(first);
  t.equal(got.data, '{"status":"Success"}', 'the DATA before the reset reached the consumer');
  t.match(got.err, { status: 5 }, 'then the reset, with its status');
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(second.destroyed, 'a paused consumer still holds its unread data after the reset');
  const late = outcome(second);
  second.resume();
  t.match(await late, { data: 'late reader', err: { status: 2 } }, 'and reads it, then sees the reset');
  t.ok(session.alive, 'the session lives on');
  session.destroy();
  raw.destroy();
});

/** A socket whose peer reads only when told to: writes stay buffered (writableLength) until release(). */
class SlowReaderSocket extends Duplex {
  private held: (() => void)[] = [];
  private reading = false;
  readonly written: Buffer[] = [];
  constructor() {
    super({ writableHighWaterMark: 16 << 10 });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    if (this.reading) cb();
    else this.held.push(cb);
  }
  release(): void {
    this.reading = true;
    for (const cb of this.held.splice(0)) cb();
  }
}

t.test('a peer that sends PINGs without reading the answers stops being read; we do not buffer the answers', async (t) => {
  const sock = new SlowReaderSocket();
  const session = new SpdySession(sock, { isServer: true });
  const count = 100_000;
  // The peer's PINGs, as its kernel would deliver them.
  for (let i = 0; i < count; i += 1000) sock.push(Buffer.concat(Array.from({ length: 1000 }, (_, j) => encodePing(2 * (i + j) + 1))));
  while (!(sock.isPaused() && sock.writableNeedDrain)) await new Promise((r) => setImmediate(r));
  t.ok(sock.writableLength < 32 << 10, `the answers we hold stay near the socket's highWaterMark (${sock.writableLength} bytes)`);
  t.ok(sock.readableLength > 0, `the peer's PINGs wait unread (${sock.readableLength} bytes)`);
  sock.release();
  while (Buffer.concat(sock.written).length < 12 * count) await new Promise((r) => setImmediate(r));
  const answers = Buffer.concat(sock.written);
  t.equal(answers.length, 12 * count, 'every PING answered once the peer read');
  t.equal(answers.subarray(-12).toString('hex'), encodePing(2 * (count - 1) + 1).toString('hex'), 'in order, to the last');
  t.ok(session.alive, 'the session lives on');
  session.destroy();
});
