import t from 'tap';
import type { Test } from 'tap';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptSpdyUpgrade, RstStatus, type SpdyStream } from '../../../../src/streaming/spdy';
import { spdyExec, spdyGet, tcpGet, wsExec, wsGet } from '../../../../bench/lib/stream-clients';
import { sessionsGone, startServer } from '../../streaming/harness';

/** A loopback server answering every connection with `answer` and then closing (or not, when `hold`). */
async function serve(t: Test, answer: Buffer, hold = false): Promise<number> {
  const server: Server = createServer((s) => {
    s.once('data', () => (hold ? s.write(answer) : s.end(answer)));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

const body = (n: number) => Buffer.concat([Buffer.from(`HTTP/1.0 200 OK\r\nContent-Length: ${n}\r\n\r\n`), Buffer.alloc(n, 0x30)]);

t.test('tcpGet resolves once the whole body came, also when the server keeps the connection open', async (t) => {
  const port = await serve(t, body(100_000), true);
  await t.resolves(tcpGet('127.0.0.1', port, 100_000));
});

t.test('tcpGet rejects a body that ends short, naming how much came', async (t) => {
  const port = await serve(t, body(10));
  await t.rejects(tcpGet('127.0.0.1', port, 11), { message: /10 of 11 body bytes/ });
});

t.test('tcpGet rejects an answer other than 200', async (t) => {
  const port = await serve(t, Buffer.from('HTTP/1.0 404 Not Found\r\n\r\n'));
  await t.rejects(tcpGet('127.0.0.1', port, 1), { message: /404/ });
});

// The streaming clients against vmpod's own server over fake pods (test/unit/streaming): each resolves at the right
// moment, and leaves no session behind.

const OPTS = { stdin: false, stdout: true, stderr: false, tty: false };

for (const [name, exec] of [
  ['spdyExec', spdyExec],
  ['wsExec', wsExec],
] as const) {
  t.test(`${name} resolves with the v4 status once the process exited`, async (t) => {
    const { server, pods } = await startServer(t);
    const status = exec(server.issue({ kind: 'exec', containerId: 'c', cmd: ['/bin/true'], opts: OPTS }));
    (await pods.process(0)).exit(0);
    t.match(await status, /Success/);
    await sessionsGone(server);
  });
}

for (const [name, get] of [
  ['spdyGet', spdyGet],
  ['wsGet', wsGet],
] as const) {
  t.test(`${name} resolves once the whole body came, though the pod's end stays open`, async (t) => {
    const { server, pods } = await startServer(t);
    const got = get(server.issue({ kind: 'portforward', podId: 'p', ports: [] }), 8080, 50_000);
    const { port, peer } = await pods.dial(0);
    t.equal(port, 8080);
    const request = await new Promise<string>((resolve) => peer.once('data', (d: Buffer) => resolve(d.toString())));
    t.match(request, /^GET \/blob HTTP\/1\.0\r\n/);
    peer.write(body(50_000));
    await t.resolves(got);
    await sessionsGone(server);
  });

  t.test(`${name} rejects a body the pod cut short`, async (t) => {
    const { server, pods } = await startServer(t);
    const got = get(server.issue({ kind: 'portforward', podId: 'p', ports: [] }), 8080, 11);
    const { peer } = await pods.dial(0);
    peer.once('data', () => peer.end(body(10)));
    await t.rejects(got, { message: /10 of 11 body bytes/ });
    await sessionsGone(server);
  });
}

// kubelet's streaming code (containerd's) writes the v4 status on the error stream and then resets every stream of
// the connection instead of closing them; client-go reads that reset as the end. So must spdyExec.
for (const [desc, rst, want] of [
  ['a reset (CANCEL) after the status ends the exec with that status', RstStatus.CANCEL, 'ok'],
  ['any other reset is an error', RstStatus.INTERNAL_ERROR, 'error'],
] as const) {
  t.test(`spdyExec: ${desc}`, async (t) => {
    const server = createHttpServer();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const up = acceptSpdyUpgrade(req, socket, head, ['v4.channel.k8s.io']);
      const streams: SpdyStream[] = [];
      up?.session.on('stream', (s: SpdyStream) => {
        streams.push(s);
        s.reply();
        if (streams.length < 2) return;
        const error = streams.find((x) => x.headers.streamtype === 'error');
        // The reset may arrive in the same read as the status before it (the DATA is read first either way).
        error?.write('{"metadata":{},"status":"Success"}', () => {
          for (const x of streams) x.reset(rst);
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    const status = spdyExec(`http://127.0.0.1:${addr.port}/exec/token`);
    if (want === 'ok') t.match(await status, /"status":"Success"/);
    else await t.rejects(status, { message: /reset by the peer \(status 6\)/ });
  });
}
