// The CRI listener with the real gRPC server (src/cri/grpc) in this process:
// what the server receives, what the server announces (the rewriter's assumptions), hostile
// clients, back-pressure, shutdown, and that nothing is left behind.

import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { GrpcServer, type GrpcMethod } from '../../../../src/cri/grpc/server';
import { DEFAULT_HEADER_TABLE_SIZE, DEFAULT_MAX_FRAME_SIZE, Flag, FrameType } from '../../../../src/cri/transport/frame';
import { listenCri, type CriListener, type ListenOptions } from '../../../../src/cri/transport/listener';
import { integer, stringLiteral } from './hpack-test-encoder';
import { CLIENT_OPENING, field, frame, grpcMessage, grpcRequestHeaders, RawH2Client } from './raw-h2-client';

const identity = (b: Buffer) => b;
const HOST = '/t.Test/Host';
const ECHO = '/t.Test/Echo';

interface Harness {
  socket: string;
  server: GrpcServer;
  listener: CriListener;
  logs: Array<{ level: number; msg: string; err?: string }>;
  grpcClient(): Client;
}

async function harness(t: Test, opts: ListenOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-listener-'));
  const socket = join(dir, 'cri.sock');
  const methods = new Map<string, GrpcMethod>([
    [HOST, { responseStream: false, requestDeserialize: identity, responseSerialize: (v) => v as Buffer, handle: async (call) => Buffer.from(call.authority, 'latin1') }],
    [ECHO, { responseStream: false, requestDeserialize: identity, responseSerialize: (v) => v as Buffer, handle: async (call) => call.request }],
  ]);
  const server = new GrpcServer(methods, {
    maxReceiveMessageBytes: 16 << 20,
    maxSendMessageBytes: 16 << 20,
    toStatus: (err) => ({ code: 13, details: String(err) }),
  });
  const logs: Harness['logs'] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const line of (chunk as Buffer).toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Harness['logs'][number]);
      cb();
    },
  });
  const listener = await listenCri(server, socket, pino({ level: 'debug' }, sink), opts);
  const clients: Client[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    server.close();
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    socket,
    server,
    listener,
    logs,
    grpcClient: () => {
      const c = new Client(`unix://${socket}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
      clients.push(c);
      return c;
    },
  };
}

const until = async (cond: () => boolean, what: string, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const openFds = () => readdirSync('/proc/self/fd').length;

t.test('the server receives the authority each client sent, made acceptable', async (t) => {
  const h = await harness(t);
  const c = await RawH2Client.connect(h.socket);
  t.teardown(() => c.close());
  const cases = [
    { desc: 'socket path', sent: h.socket, seen: encodeURIComponent(h.socket).replace(/%2f/gi, '%2F') },
    { desc: 'percent-encoded path', sent: encodeURIComponent(h.socket), seen: encodeURIComponent(h.socket) },
    { desc: 'localhost', sent: 'localhost', seen: 'localhost' },
    { desc: 'empty', sent: '', seen: 'localhost' },
  ];
  for (const x of cases) {
    const r = await c.unary(HOST, x.sent, Buffer.alloc(0));
    t.equal(field(r.trailers ?? r.headers, 'grpc-status'), '0', `${x.desc}: OK`);
    t.equal(r.data.subarray(5).toString('latin1'), x.seen, `${x.desc}: the server saw ${JSON.stringify(x.seen)}`);
  }
  t.match(
    h.logs.find((l) => /authority nghttp2 refuses/.test(l.msg)),
    { level: 20, sent: h.socket },
    'logged once, at debug',
  );
  t.equal(h.logs.filter((l) => /authority nghttp2 refuses/.test(l.msg)).length, 1, 'once per connection, not per call');
});

t.test('the server announces what the rewriter assumes (frame size and header table size)', async (t) => {
  const h = await harness(t);
  const c = await RawH2Client.connect(h.socket);
  t.teardown(() => c.close());
  await until(() => c.serverSettingsFrames === 1, "the listener's SETTINGS");
  t.same([...c.serverSettings!], [], "the listener's own SETTINGS, sent before any request, announce the defaults");
  await c.unary(HOST, h.socket, Buffer.alloc(0));
  await until(() => c.serverSettingsFrames === 2, "the session's SETTINGS");
  const tableSize = c.serverSettings!.get(0x1);
  const frameSize = c.serverSettings!.get(0x5);
  t.ok(tableSize === undefined || tableSize <= DEFAULT_HEADER_TABLE_SIZE, `SETTINGS_HEADER_TABLE_SIZE ${tableSize ?? 'not sent (4096)'} is within what the rewriter decodes`);
  t.ok(frameSize === undefined || frameSize === DEFAULT_MAX_FRAME_SIZE, `SETTINGS_MAX_FRAME_SIZE ${frameSize ?? 'not sent (16384)'} is what the rewriter accepts and emits`);
});

const DIRECT = 'serving a CRI connection on its socket directly';
const REWRITING = 'serving a CRI connection through the authority rewriter';

t.test('a connection whose first request nghttp2 accepts is served on its socket; one that needs a change, through the rewriter', async (t) => {
  const h = await harness(t);
  const paths = () => h.logs.filter((l) => l.msg === DIRECT || l.msg === REWRITING).map((l) => l.msg);
  const echo = (c: Client) =>
    new Promise<Buffer>((resolve, reject) => c.makeUnaryRequest(ECHO, identity, identity, Buffer.from('hi'), (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!))));
  const grpcJs = h.grpcClient();
  for (let i = 0; i < 20; i++) t.equal((await echo(grpcJs)).toString(), 'hi');
  t.same(paths(), [DIRECT], 'grpc-js (localhost): direct');

  const raw = await RawH2Client.connect(h.socket);
  t.teardown(() => raw.close());
  for (let i = 0; i < 5; i++) t.equal(field((await raw.unary(HOST, 'localhost', Buffer.alloc(0))).trailers, 'grpc-status'), '0', 'localhost answered');
  t.same(paths(), [DIRECT, DIRECT], 'a raw client that sends its request before its ACK: direct');
  // The trade-off (handoff.ts): nghttp2 now checks this connection's authorities itself.
  const later = await raw.unary(HOST, h.socket, Buffer.alloc(0));
  t.equal(later.rstCode, 1, 'a later request with the socket path on a direct connection is refused by nghttp2 (PROTOCOL_ERROR)');
  t.equal(field((await raw.unary(HOST, 'localhost', Buffer.alloc(0))).trailers, 'grpc-status'), '0', 'and the connection goes on');

  const old = await RawH2Client.connect(h.socket);
  t.teardown(() => old.close());
  for (const sent of [h.socket, 'localhost', '']) {
    const r = await old.unary(HOST, sent, Buffer.alloc(0));
    t.equal(field(r.trailers, 'grpc-status'), '0', `${JSON.stringify(sent)} answered on a rewriting connection`);
  }
  t.same(paths(), [DIRECT, DIRECT, REWRITING], 'the socket path first: the rewriter, for every request after it too');
});

t.test("a client that never ACKs the listener's SETTINGS is served through the rewriter once the wait is over", async (t) => {
  const h = await harness(t, { decideWithinMs: 100 });
  const c = await RawH2Client.connect(h.socket, { ackSettings: false });
  t.teardown(() => c.close());
  const r = await c.unary(HOST, 'localhost', Buffer.alloc(0));
  t.equal(field(r.trailers, 'grpc-status'), '0', 'answered');
  t.equal(r.data.subarray(5).toString('latin1'), 'localhost');
  t.ok(
    h.logs.some((l) => l.msg === REWRITING),
    'through the rewriter',
  );
});

t.test('large messages both ways go through with flow control and back-pressure', async (t) => {
  const h = await harness(t);
  const client = h.grpcClient();
  const body = Buffer.alloc(8 << 20);
  for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
  const answer = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(ECHO, identity, identity, body, (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!))),
  );
  t.ok(answer.equals(body), '8 MiB echoed intact');
});

t.test('a client that breaks HTTP/2 is disconnected; the others keep being served', async (t) => {
  const h = await harness(t);
  const good = h.grpcClient();
  const echo = () =>
    new Promise<Buffer>((resolve, reject) => good.makeUnaryRequest(ECHO, identity, identity, Buffer.from('hi'), (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!))));
  t.equal((await echo()).toString(), 'hi');
  const hostile: Array<{ desc: string; bytes: Buffer; logged: RegExp }> = [
    { desc: 'an HTTP/1.1 request', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), logged: /connection preface/ },
    {
      desc: 'a header block that never ends',
      bytes: Buffer.concat([CLIENT_OPENING, frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16384)), ...Array.from({ length: 17 }, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384)))]),
      logged: /exceeds 262144 bytes/,
    },
    {
      desc: 'an HPACK bomb',
      bytes: Buffer.concat([
        CLIENT_OPENING,
        // One 4 KB table entry, then a block of 16000 one-byte references to it: 64 MB decoded.
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([...integer(0, 6, 0x40), ...stringLiteral('x-big', false), ...stringLiteral('a'.repeat(4000), false)])),
        frame(FrameType.HEADERS, Flag.END_HEADERS, 3, Buffer.alloc(16000, 0xbe)),
      ]),
      logged: /decoded header list exceeds/,
    },
    {
      desc: 'a frame inside a header block',
      bytes: Buffer.concat([CLIENT_OPENING, frame(FrameType.HEADERS, 0, 1, [0x82]), frame(FrameType.PING, 0, 0, Buffer.alloc(8))]),
      logged: /PING frame arrived inside the header block/,
    },
  ];
  for (const x of hostile) {
    const c = await RawH2Client.connect(h.socket, { opening: false });
    c.write(x.bytes);
    await c.closed;
    t.pass(`${x.desc}: connection closed by the daemon`);
    t.match(h.logs.at(-1), { level: 40, msg: 'closing a CRI connection that broke HTTP/2', err: x.logged }, `${x.desc}: warned with the reason`);
  }
  t.equal((await echo()).toString(), 'hi', 'the well-behaved client is still served');
});

t.test('no socket, session or fd outlives its connection, whichever way it ends', async (t) => {
  const h = await harness(t);
  const warm = await RawH2Client.connect(h.socket);
  await warm.unary(HOST, 'localhost', Buffer.alloc(0));
  await warm.close();
  await until(() => h.listener.connections === 0, 'the warm-up connection to close');
  const before = openFds();
  const endings: Array<{ desc: string; run: () => Promise<unknown> }> = [
    {
      desc: 'a call, then the client closes',
      run: async () => {
        const c = await RawH2Client.connect(h.socket);
        await c.unary(HOST, h.socket, Buffer.alloc(0));
        await c.close();
      },
    },
    {
      desc: 'a direct connection: a call, then the client closes',
      run: async () => {
        const c = await RawH2Client.connect(h.socket);
        await c.unary(HOST, 'localhost', Buffer.alloc(0));
        await c.close();
      },
    },
    {
      desc: 'a direct connection: the client goes away in the middle of a request body',
      run: async () => {
        const c = await RawH2Client.connect(h.socket);
        await c.unary(HOST, 'localhost', Buffer.alloc(0));
        c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, c.encoder.encode(grpcRequestHeaders(ECHO, 'localhost'))));
        c.write(frame(FrameType.DATA, 0, 3, grpcMessage(Buffer.alloc(100)).subarray(0, 50)));
        await new Promise((r) => setTimeout(r, 50));
        await c.close();
      },
    },
    {
      desc: 'the client vanishes in the middle of a header block',
      run: async () => {
        const c = await RawH2Client.connect(h.socket);
        c.write(frame(FrameType.HEADERS, 0, 1, [0x82]));
        c.write(Buffer.from([0, 0, 10, FrameType.CONTINUATION])); // half a frame header
        await new Promise((r) => setTimeout(r, 50));
        await c.close();
      },
    },
    {
      desc: 'the client half-closes after its preface',
      run: async () => {
        const s = connect(h.socket);
        s.on('error', () => undefined);
        s.resume();
        await new Promise((r) => s.once('connect', r));
        s.end(CLIENT_OPENING);
        await new Promise((r) => s.once('close', r));
      },
    },
    {
      desc: 'the client connects, says nothing, and goes away',
      run: async () => {
        const s = connect(h.socket);
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        await new Promise((r) => setTimeout(r, 50));
        s.destroy();
        await new Promise((r) => s.once('close', r));
      },
    },
    {
      desc: 'the client stops mid-call with a request body pending',
      run: async () => {
        const c = await RawH2Client.connect(h.socket);
        c.write(
          frame(
            FrameType.HEADERS,
            Flag.END_HEADERS,
            1,
            c.encoder.encode([
              [':method', 'POST'],
              [':scheme', 'http'],
              [':path', ECHO],
              [':authority', h.socket],
              ['content-type', 'application/grpc'],
              ['te', 'trailers'],
            ]),
          ),
        );
        c.write(frame(FrameType.DATA, 0, 1, grpcMessage(Buffer.alloc(100)).subarray(0, 50)));
        await new Promise((r) => setTimeout(r, 50));
        await c.close();
      },
    },
  ];
  for (let round = 0; round < 3; round++) for (const e of endings) await e.run();
  await until(() => h.listener.connections === 0, 'every connection to be gone');
  await until(() => openFds() <= before, `open fds back to ${before} (now ${openFds()})`);
  t.equal(h.listener.connections, 0, 'no connection left');
  t.ok(openFds() <= before, 'no fd left');
});

t.test('shutdown closes every connection, injected sessions included, and removes the socket', async (t) => {
  const h = await harness(t);
  const idle = await RawH2Client.connect(h.socket);
  await idle.unary(HOST, h.socket, Buffer.alloc(0));
  const silent = connect(h.socket); // never sends its preface: only the listener knows it
  silent.on('error', () => undefined);
  silent.resume(); // so that its end of stream is read and it closes
  const silentClosed = new Promise((r) => silent.once('close', r));
  await until(() => h.listener.connections === 2, 'both connections accepted');
  h.server.close();
  await h.listener.close();
  await idle.closed;
  await silentClosed;
  t.equal(h.listener.connections, 0);
  t.notOk(existsSync(h.socket), 'socket file removed');
});
