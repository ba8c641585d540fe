// Client and server sessions over a real loopback upgrade: streams both ways,
// half-close, reset, large transfers under backpressure, ping, GOAWAY and
// teardown releasing every stream and the socket.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { SpdyStreamError, type SpdyStream } from '../../../../src/streaming/spdy';
import { collect, once, spdyPair, type Pair } from './pair';

/** A client stream and its server side, accepted with SYN_REPLY. */
async function openAccepted(p: Pair): Promise<{ c: SpdyStream; s: SpdyStream }> {
  const accepted = once<SpdyStream>(p.server, 'stream');
  const opened = p.client.openStream({});
  const s = await accepted;
  s.reply();
  return { c: await opened, s };
}

async function rejectedStatus(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof SpdyStreamError ? err.status : String(err);
  }
}

t.test('a client stream: SYN_STREAM headers, SYN_REPLY, data both ways, half-close both ways', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  t.equal(p.protocol, 'v4.channel.k8s.io', 'the negotiated protocol reaches the client');
  p.server.on('stream', (s: SpdyStream) => {
    t.same({ ...s.headers }, { streamtype: 'stdin', requestid: '7' }, 'header names arrive lower-cased');
    t.equal(s.id % 2, 1, 'client streams have odd ids');
    s.reply();
    // Echo upper-cased, then FIN when the client's FIN arrives.
    s.on('data', (c: Buffer) => s.write(Buffer.from(c.toString().toUpperCase())));
    s.on('end', () => s.end());
  });
  const c = await p.client.openStream({ StreamType: 'stdin', requestID: '7' });
  c.write('hello ');
  c.end('world');
  t.equal((await collect(c)).toString(), 'HELLO WORLD', 'data crossed both ways and both FINs ended the stream');
});

t.test('a server stream gets an even id; the peer FIN on SYN_STREAM ends the readable side at once', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  p.client.on('stream', (s: SpdyStream) => {
    s.reply({ ok: '1' });
    s.end('from client');
    s.resume();
  });
  const s = await p.server.openStream({ streamtype: 'data' });
  t.equal(s.id % 2, 0, 'server streams have even ids');
  s.end();
  t.equal((await collect(s)).toString(), 'from client');

  const finFirst = once<SpdyStream>(p.server, 'stream');
  const opened = p.client.openStream({ streamtype: 'error' }, { fin: true });
  const got = await finFirst;
  got.reply();
  t.equal((await collect(got)).length, 0, 'a SYN_STREAM with FLAG_FIN is an empty readable side');
  const mine = await opened;
  got.end('status');
  t.equal((await collect(mine)).toString(), 'status', 'the opener of a FIN stream still receives');
});

t.test('reset: the peer sees the stream fail with RST_STREAM status; openStream rejects on refusal', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  p.server.once('stream', (s: SpdyStream) => {
    s.reply();
    s.once('data', () => s.reset(5));
  });
  const c = await p.client.openStream({ streamtype: 'data' });
  c.write('x');
  const err = await new Promise<Error>((resolve) => c.on('error', resolve));
  t.ok(err instanceof SpdyStreamError, 'a typed stream error');
  t.equal((err as SpdyStreamError).status, 5, 'carries the CANCEL status');

  p.server.once('stream', (s: SpdyStream) => s.reset(3));
  t.equal(await rejectedStatus(p.client.openStream({ streamtype: 'data' })), 3, 'RST before SYN_REPLY rejects openStream with its status');
});

t.test('a stream nobody accepts is refused', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  t.equal(await rejectedStatus(p.client.openStream({ streamtype: 'data' })), 3, 'no stream listener: REFUSED_STREAM');
});

t.test('a large transfer arrives intact, both ways', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  const up = randomBytes(8 << 20);
  const down = randomBytes(5 << 20);
  p.server.on('stream', (s: SpdyStream) => {
    s.reply();
    void collect(s).then((got) => {
      t.ok(got.equals(up), 'client to server: 8 MiB intact');
      s.end(down);
    });
  });
  const c = await p.client.openStream({});
  c.end(up);
  t.ok((await collect(c)).equals(down), 'server to client: 5 MiB intact');
});

t.test('an echo of 32 MiB while both ends write does not deadlock (answers are gated on the socket, DATA is not)', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  p.server.on('stream', (s: SpdyStream) => {
    s.reply();
    s.pipe(s);
  });
  const c = await p.client.openStream({});
  const payload = randomBytes(32 << 20);
  const got = collect(c);
  c.end(payload);
  t.ok((await got).equals(payload), 'everything came back');
});

t.test('backpressure: a paused consumer holds its buffer to a bound, the sender is held back, and nothing is lost', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  const total = 16 << 20;
  const payload = randomBytes(total);
  const accepted = once<SpdyStream>(p.server, 'stream');
  const opened = p.client.openStream({});
  const s = await accepted;
  s.pause();
  s.reply();
  const c = await opened;
  // Write as fast as the stream takes it; count what it accepted.
  let written = 0;
  let writerDone = false;
  const writer = (async () => {
    for (let off = 0; off < total; off += 64 << 10) {
      const chunk = payload.subarray(off, off + (64 << 10));
      written += chunk.length;
      if (!c.write(chunk)) await once(c, 'drain');
    }
    c.end();
    writerDone = true;
  })();
  // Let the sender run into the wall: wait until the writer stops making progress.
  let last = -1;
  while (written !== last) {
    last = written;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.notOk(writerDone, 'the writer is held back while the reader is paused');
  t.ok(s.readableLength <= (64 << 10) + (32 << 10), `the paused stream holds at most its highWaterMark and a frame (${s.readableLength} bytes)`);
  t.ok(written < total, `the sender got only part of the data out (${written} of ${total})`);
  const got = collect(s);
  s.resume();
  await writer;
  t.ok((await got).equals(payload), 'everything arrives, in order, once the reader drains');
  s.end();
});

t.test('a stuck stream holds the connection back until it is read, reset or ends', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  const stuck = await openAccepted(p);
  const other = await openAccepted(p);
  stuck.s.pause();
  stuck.s.on('error', () => undefined);
  stuck.c.on('error', () => undefined);
  // Fill the stuck stream past its highWaterMark, then send on the other one.
  const big = Buffer.alloc(1 << 20, 1);
  stuck.c.write(big);
  await new Promise<void>((r) => {
    const check = (): void => (stuck.s.readableLength >= 64 << 10 ? r() : void setImmediate(check));
    check();
  });
  const got = collect(other.s);
  other.c.end('behind the stuck one');
  stuck.s.reset();
  t.equal((await got).toString(), 'behind the stuck one', 'resetting the stuck stream lets the connection read on');
  other.s.end();
});

t.test('ping: both sides echo the other', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  await p.client.ping();
  await p.server.ping();
  await p.client.ping();
  t.pass('three pings answered');
});

t.test('goAway: no new streams, the open one finishes, then the connection closes and both sessions report it', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  const { c, s } = await openAccepted(p);
  const serverClosed = once<Error | undefined>(p.server, 'close');
  const clientClosed = once<Error | undefined>(p.client, 'close');
  p.server.goAway();
  await t.rejects(p.server.openStream({}), /going away/, 'no new streams from the side that sent GOAWAY');
  s.end('last words');
  const got = collect(c);
  c.end();
  s.resume();
  t.equal((await got).toString(), 'last words', 'the open stream completes after GOAWAY');
  t.equal(await serverClosed, undefined, 'the server closes cleanly once idle');
  t.equal(await clientClosed, undefined, 'the client sees a clean close');
});

t.test('destroy: every stream errors, pending opens and pings reject, close is emitted once, the socket is gone', async (t) => {
  const p = await spdyPair();
  t.teardown(() => p.close());
  const { c, s } = await openAccepted(p);
  let closes = 0;
  p.client.on('close', () => closes++);
  const serverClosed = once(p.server, 'close');
  const clientErr = new Promise<Error>((resolve) => c.on('error', resolve));
  const serverErr = new Promise<Error>((resolve) => s.on('error', resolve));
  const pending = p.client.openStream({});
  p.client.destroy(new Error('test teardown'));
  await t.rejects(pending, /test teardown/, 'a pending openStream rejects');
  t.match((await clientErr).message, /test teardown/, 'the client stream fails with the teardown error');
  t.match((await serverErr).message, /connection closed/, 'the server stream fails: its connection closed');
  await serverClosed;
  await new Promise((r) => setImmediate(r));
  t.equal(closes, 1, 'close emitted once');
  t.ok(c.destroyed && s.destroyed, 'both streams destroyed');
  p.client.destroy();
  t.equal(closes, 1, 'a second destroy is a no-op');
});
