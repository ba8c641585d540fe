import t from 'tap';
import { Duplex } from 'node:stream';
import { duplexPair, tick } from './pair';
import { CallCancelledError, ConnectionClosedError, DeadlineExceededError, ProtocolViolationError, RemoteStatusError, TtrpcClient, TtrpcServer } from '../../../../common/ttrpc';
import { NotFoundError, GrpcStatus } from '../../../../common/errors';
import { encodeFrame, MessageType } from '../../../../common/ttrpc/frame';

const SVC = 'test.v1.Echo';

function setup(t: { teardown(fn: () => void): void }, server = echoServer()): { client: TtrpcClient; serverEnd: Duplex } {
  const [a, b] = duplexPair();
  const conn = server.serve(b);
  const client = new TtrpcClient(a, { defaultTimeoutMs: 5000 });
  t.teardown(() => {
    client.close();
    conn.close();
  });
  return { client, serverEnd: b };
}

const seen: { aborted: boolean[] } = { aborted: [] };

function echoServer(): TtrpcServer {
  return new TtrpcServer()
    .register(SVC, 'Echo', async (p) => p)
    .register(SVC, 'Delay', async (p, ctx) => {
      const ms = p.readUInt32BE(0);
      await new Promise((r) => setTimeout(r, ms));
      if (ctx.signal.aborted) throw new Error('aborted');
      return p;
    })
    .register(SVC, 'Hang', async (_p, ctx) => {
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
      seen.aborted.push(true);
      throw new Error('deadline');
    })
    .register(SVC, 'Missing', async () => {
      throw new NotFoundError('container', 'abc');
    })
    .register(SVC, 'Count', async (p, ctx) => {
      const n = p.readUInt32BE(0);
      for (let i = 0; i < n; i++) ctx.send(Buffer.from(`chunk-${i}`));
      return Buffer.from('done');
    })
    .register(SVC, 'Upper', async (_p, ctx) => {
      for await (const d of ctx.incoming) ctx.send(Buffer.from(d.toString().toUpperCase()));
      return Buffer.from('eof');
    });
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

t.test('unary round trips', async (t) => {
  const { client } = setup(t);
  const cases = [
    { desc: 'empty payload', payload: Buffer.alloc(0) },
    { desc: 'text', payload: Buffer.from('hello agent') },
    { desc: '1 MiB', payload: Buffer.alloc(1 << 20, 7) },
  ];
  for (const c of cases) {
    const out = await client.call(SVC, 'Echo', c.payload);
    t.ok(out.equals(c.payload), c.desc);
  }
});

t.test('many concurrent calls are multiplexed and each gets its own answer', async (t) => {
  const { client } = setup(t);
  const n = 300;
  const calls = Array.from({ length: n }, (_, i) => {
    const p = Buffer.alloc(8);
    p.writeUInt32BE((i * 7) % 13, 0); // delay so answers come back out of order
    p.writeUInt32BE(i, 4);
    return client.call(SVC, 'Delay', p).then((out) => out.readUInt32BE(4));
  });
  const results = await Promise.all(calls);
  t.same(
    results,
    Array.from({ length: n }, (_, i) => i),
    'every call answered with its own payload',
  );
  t.equal(client.pendingCalls, 0, 'nothing left pending');
});

t.test('remote errors carry their status code', async (t) => {
  const { client } = setup(t);
  const cases = [
    { desc: 'typed handler error', method: 'Missing', status: GrpcStatus.NOT_FOUND, msg: /container "abc" not found/ },
    { desc: 'unknown method', method: 'Nope', status: GrpcStatus.UNIMPLEMENTED, msg: /not implemented/ },
  ];
  for (const c of cases) {
    const err = await client.call(SVC, c.method, Buffer.alloc(0)).catch((e: unknown) => e);
    t.type(err, RemoteStatusError, c.desc);
    t.equal((err as RemoteStatusError).grpcStatus, c.status, `${c.desc}: status`);
    t.match((err as Error).message, c.msg, `${c.desc}: message`);
  }
});

t.test('deadline: the client fails locally and the server handler is aborted', async (t) => {
  const { client } = setup(t);
  seen.aborted = [];
  const err = await client.call(SVC, 'Hang', Buffer.alloc(0), { timeoutMs: 50 }).catch((e: unknown) => e);
  t.type(err, DeadlineExceededError, 'DeadlineExceededError');
  for (let i = 0; i < 100 && seen.aborted.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(seen.aborted, [true], 'server saw the deadline through timeout_nano');
  t.ok((await client.call(SVC, 'Echo', Buffer.from('x'))).equals(Buffer.from('x')), 'connection still usable');
});

t.test('cancellation through AbortSignal', async (t) => {
  const { client } = setup(t);
  const ac = new AbortController();
  const p = client.call(SVC, 'Hang', Buffer.alloc(0), { signal: ac.signal, timeoutMs: 0 });
  ac.abort();
  await t.rejects(p, CallCancelledError, 'in-flight call cancelled');
  await t.rejects(client.call(SVC, 'Echo', Buffer.alloc(0), { signal: ac.signal }), CallCancelledError, 'already-aborted signal');
  t.equal(client.pendingCalls, 0, 'cancelled calls are forgotten');
});

t.test('server streaming delivers data frames then the response', async (t) => {
  const { client } = setup(t);
  const s = client.openStream(SVC, 'Count', u32(50));
  const got: string[] = [];
  for await (const d of s) got.push(d.toString());
  t.equal(got.length, 50, 'all chunks');
  t.equal(got[49], 'chunk-49', 'in order');
  t.equal((await s.response).toString(), 'done', 'final response');
});

t.test('client streaming: data frames to the server and close', async (t) => {
  const { client } = setup(t);
  const s = client.openStream(SVC, 'Upper', Buffer.alloc(0), { clientStreaming: true });
  s.send(Buffer.from('abc'));
  s.send(Buffer.from('def'));
  s.closeSend();
  const got: string[] = [];
  for await (const d of s) got.push(d.toString());
  t.same(got, ['ABC', 'DEF'], 'echoed upper-cased');
  t.equal((await s.response).toString(), 'eof', 'server saw the close');
});

t.test('the peer going away fails every pending call with ConnectionClosedError', async (t) => {
  const { client, serverEnd } = setup(t);
  const calls = [1, 2, 3].map(() => client.call(SVC, 'Hang', Buffer.alloc(0)));
  await tick();
  serverEnd.destroy();
  for (const c of calls) await t.rejects(c, ConnectionClosedError);
  await t.rejects(client.call(SVC, 'Echo', Buffer.alloc(0)), ConnectionClosedError, 'new calls fail fast');
});

t.test('a protocol violation fails only that connection', async (t) => {
  const cases = [
    { desc: 'response for a stream never opened', bytes: encodeFrame(99, MessageType.RESPONSE, 0, Buffer.alloc(0)) },
    { desc: 'request sent to a client', bytes: encodeFrame(1, MessageType.REQUEST, 0, Buffer.alloc(0)) },
    { desc: 'oversized length', bytes: Buffer.from('ffffffff000000010200', 'hex') },
    { desc: 'garbage response body', bytes: encodeFrame(1, MessageType.RESPONSE, 0, Buffer.from([0x0a, 0xff, 0xff])) },
  ];
  const healthy = setup(t);
  for (const c of cases) {
    const [a, b] = duplexPair();
    const client = new TtrpcClient(a);
    const pending = client.call(SVC, 'Echo', Buffer.alloc(0));
    b.write(c.bytes);
    await t.rejects(pending, ProtocolViolationError, c.desc);
    t.ok(a.destroyed, `${c.desc}: connection destroyed`);
    t.ok((await healthy.client.call(SVC, 'Echo', Buffer.from('ok'))).equals(Buffer.from('ok')), `${c.desc}: other connection unaffected`);
  }
});

t.test('answers to ids from an earlier connection are dropped, not mistaken for new calls', async (t) => {
  const [a, b] = duplexPair();
  const conn = echoServer().serve(b);
  const client = new TtrpcClient(a, { firstStreamId: 101 });
  t.teardown(() => {
    client.close();
    conn.close();
  });
  // What virtio-serial replays after a reconnect: the answer to stream 7 of the old connection.
  b.write(encodeFrame(7, MessageType.RESPONSE, 0, Buffer.from([0x12, 0x03, 0x6f, 0x6c, 0x64])));
  const out = await client.call(SVC, 'Echo', Buffer.from('new'));
  t.equal(out.toString(), 'new', 'the new call got its own answer');
  t.equal(client.nextId, 103, 'ids continue from firstStreamId');
  t.notOk(client.closed, 'the stale frame did not fail the connection');
});
