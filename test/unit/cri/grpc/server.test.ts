// The gRPC server on node:http2 (src/cri/grpc) with grpc-js's client, the
// one the tests and benches use (kubelet and crictl use Go's, which critest
// drives in test/conformance): answers, statuses, deadlines, cancels,
// server streams, limits, and what is not gRPC at all.

import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect, createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { GrpcCall, ServerStreamCall } from '../../../../src/cri/grpc/call';
import { GrpcServer, type GrpcMethod } from '../../../../src/cri/grpc/server';

const identity = (b: Buffer): Buffer => b;
const asBuffer = (v: unknown): Buffer => v as Buffer;

interface Harness {
  socket: string;
  server: GrpcServer;
  client: Client;
  /** Calls the handlers have seen, and whether each was told it was cancelled. */
  seen: Array<{ call: GrpcCall; cancelled: boolean }>;
}

/** A server with these methods under /t.T/<name>, served on a unix socket, and a client for it. */
async function harness(t: Test, methods: Record<string, (call: ServerStreamCall, seen: Harness['seen'][number]) => Promise<unknown>>, stream: string[] = []): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-grpc-'));
  const socket = join(dir, 's.sock');
  const seen: Harness['seen'] = [];
  const table = new Map<string, GrpcMethod>();
  for (const [name, fn] of Object.entries(methods)) {
    const handle = (call: ServerStreamCall) => {
      const s = { call, cancelled: false };
      seen.push(s);
      call.onCancelled(() => (s.cancelled = true));
      return fn(call, s);
    };
    table.set(
      `/t.T/${name}`,
      stream.includes(name)
        ? { responseStream: true, requestDeserialize: identity, responseSerialize: asBuffer, handle: handle as (c: ServerStreamCall) => Promise<void> }
        : { responseStream: false, requestDeserialize: identity, responseSerialize: asBuffer, handle },
    );
  }
  const server = new GrpcServer(table, {
    maxReceiveMessageBytes: 1024,
    maxSendMessageBytes: 2048,
    toStatus: (err) => ({ code: status.NOT_FOUND, details: (err as Error).message }),
  });
  const net: NetServer = createServer((s) => server.serve(s));
  await new Promise<void>((r) => net.listen(socket, r));
  const client = new Client(`unix://${socket}`, credentials.createInsecure());
  t.teardown(async () => {
    client.close();
    server.close();
    await new Promise((r) => net.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return { socket, server, client, seen };
}

function unary(c: Client, method: string, body: Buffer, opts: { deadline?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(`/t.T/${method}`, identity, identity, body, new Metadata(), opts, (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!))),
  );
}

t.test('a unary call: the handler gets the request and the authority, the client its answer', async (t) => {
  const h = await harness(t, { Echo: async (call) => Buffer.concat([call.request as Buffer, Buffer.from(`@${call.authority}`)]) });
  t.equal((await unary(h.client, 'Echo', Buffer.from('hi'))).toString(), 'hi@localhost', "grpc-js's authority for a unix socket");
  t.equal((await unary(h.client, 'Echo', Buffer.alloc(0))).toString().startsWith('@'), true, 'an empty message is a message');
  t.equal(h.seen[0].cancelled, false, 'an answered call is not cancelled');
});

t.test("a handler's rejection is the status toStatus gives, its message intact", async (t) => {
  const h = await harness(t, {
    Fail: async () => {
      throw new Error('pod "ü/100%"\nnot found');
    },
  });
  await t.rejects(unary(h.client, 'Fail', Buffer.from('x')), { code: status.NOT_FOUND, details: 'pod "ü/100%"\nnot found' });
});

t.test('a method the server does not have is UNIMPLEMENTED, named', async (t) => {
  const h = await harness(t, {});
  await t.rejects(unary(h.client, 'Nope', Buffer.from('x')), { code: status.UNIMPLEMENTED, details: /\/t\.T\/Nope/ });
});

t.test("the caller's deadline ends the call with DEADLINE_EXCEEDED and tells the handler", async (t) => {
  let release!: () => void;
  const h = await harness(t, {
    Slow: (call) =>
      new Promise((resolve) => {
        release = () => resolve(Buffer.from('late'));
        call.onCancelled(() => release());
      }),
  });
  await t.rejects(unary(h.client, 'Slow', Buffer.from('x'), { deadline: Date.now() + 150 }), { code: status.DEADLINE_EXCEEDED });
  await until(() => h.seen[0]?.cancelled === true, 'the handler told');
  t.ok(Number.isFinite(h.seen[0].call.deadline), 'the call knew its deadline');
});

t.test('a client that cancels: the handler is told, and its late answer goes nowhere', async (t) => {
  let answer!: () => void;
  const h = await harness(t, { Hold: () => new Promise((resolve) => (answer = () => resolve(Buffer.from('late')))) });
  const call = h.client.makeUnaryRequest('/t.T/Hold', identity, identity, Buffer.from('x'), () => undefined);
  await until(() => h.seen.length === 1, 'the call to reach its handler');
  call.cancel();
  await until(() => h.seen[0].cancelled, 'the handler told of the cancel');
  answer();
  const code = await unary(h.client, 'Hold2', Buffer.from('x')).then(
    () => -1,
    (e: ServiceError) => Number(e.code),
  );
  t.equal(code, Number(status.UNIMPLEMENTED), 'the connection still serves');
});

t.test('a server stream: messages in order, then OK; a failure after the first message ends it with its status', async (t) => {
  const h = await harness(
    t,
    {
      Three: async (call) => {
        for (const m of ['a', 'b', 'c']) await call.write(Buffer.from(m));
      },
      Half: async (call) => {
        call.sendHeaders();
        await call.write(Buffer.from('first'));
        throw new Error('gone');
      },
    },
    ['Three', 'Half'],
  );
  const read = (m: string) =>
    new Promise<{ got: string[]; err?: ServiceError }>((resolve) => {
      const got: string[] = [];
      const s = h.client.makeServerStreamRequest(`/t.T/${m}`, identity, identity, Buffer.from('x'));
      s.on('data', (b: Buffer) => got.push(b.toString()));
      s.on('error', (err: ServiceError) => resolve({ got, err }));
      s.on('status', (st: { code: number }) => st.code === Number(status.OK) && resolve({ got }));
    });
  t.same(await read('Three'), { got: ['a', 'b', 'c'] });
  const half = await read('Half');
  t.same(half.got, ['first']);
  t.match(half.err, { code: status.NOT_FOUND, details: 'gone' });
});

t.test('limits: a request over the limit is RESOURCE_EXHAUSTED, so is an answer over it', async (t) => {
  const h = await harness(t, { Echo: async (call) => call.request, Big: async () => Buffer.alloc(4096) });
  await t.rejects(unary(h.client, 'Echo', Buffer.alloc(1025)), { code: status.RESOURCE_EXHAUSTED, details: /1025 bytes, more than the 1024/ });
  t.equal(h.seen.length, 0, 'the handler never ran');
  await t.rejects(unary(h.client, 'Big', Buffer.from('x')), { code: status.RESOURCE_EXHAUSTED, details: /4096 bytes/ });
  t.equal((await unary(h.client, 'Echo', Buffer.alloc(1024))).length, 1024, 'at the limit: served, on the same connection');
});

t.test('not gRPC: a GET is 405, another content type 415, a compressed message UNIMPLEMENTED', async (t) => {
  const h = await harness(t, { Echo: async (call) => call.request });
  const session = h2connect('http://localhost', { createConnection: () => netConnect(h.socket) });
  t.teardown(() => session.close());
  const ask = (headers: Record<string, string>, body?: Buffer) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const req = session.request(headers);
      let seen: Record<string, unknown> = {};
      req.on('response', (hs: Record<string, unknown>) => (seen = { ...hs }));
      req.on('trailers', (tr: Record<string, unknown>) => (seen = { ...seen, ...tr }));
      req.on('close', () => resolve(seen));
      req.resume();
      req.end(body);
    });
  t.equal((await ask({ ':method': 'GET', ':path': '/t.T/Echo' }))[':status'], 405);
  t.equal((await ask({ ':method': 'POST', ':path': '/t.T/Echo', 'content-type': 'text/plain' }))[':status'], 415);
  const compressed = Buffer.from([1, 0, 0, 0, 1, 0x41]);
  const r = await ask({ ':method': 'POST', ':path': '/t.T/Echo', 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' }, compressed);
  t.equal(r['grpc-status'], String(status.UNIMPLEMENTED));
  t.match(decodeURIComponent(String(r['grpc-message'])), /compressed/);
  const none = await ask({ ':method': 'POST', ':path': '/t.T/Echo', 'content-type': 'application/grpc' });
  t.equal(none['grpc-status'], String(status.UNIMPLEMENTED), 'no request message');
  const timeout = await ask({ ':method': 'POST', ':path': '/t.T/Echo', 'content-type': 'application/grpc', 'grpc-timeout': 'soon' }, Buffer.alloc(5));
  t.equal(timeout['grpc-status'], String(status.INTERNAL), 'a grpc-timeout that is not one');
  t.equal(h.seen.length, 0, 'no handler ran for any of them');
});

t.test('close() ends every session; a call still running is told', async (t) => {
  const h = await harness(t, { Hold: () => new Promise(() => undefined) });
  const failed = unary(h.client, 'Hold', Buffer.from('x')).catch((e: ServiceError) => e.code);
  await until(() => h.seen.length === 1, 'the call to reach its handler');
  t.equal(h.server.sessionCount, 1);
  h.server.close();
  t.equal(typeof (await failed), 'number', 'the client saw the call fail');
  await until(() => h.seen[0].cancelled && h.server.sessionCount === 0, 'the handler told and the session gone');
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
