// Regression (issue 12): gRPC clients that dial a unix socket by path send
// that path as the HTTP/2 :authority (kubelet and crictl up to 1.29,
// grpc-java, Python gRPC over UDS). Node's HTTP/2 layer refused it with
// RST_STREAM PROTOCOL_ERROR before grpc-js saw the call, so crictl 1.26
// got "stream terminated by RST_STREAM with error code: PROTOCOL_ERROR" on
// every call. Here a raw HTTP/2 client speaks to the real daemon the way
// kubelet 1.29 does, and the requests nghttp2 must still refuse are refused.

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runtimeServiceDefinition } from '../../src/cri/proto';
import { projectRoot } from '../../src/paths';
import { startDaemon } from '../helpers/daemon';
import { field, RawH2Client, type RawResponse } from '../unit/cri/transport/raw-h2-client';

const VERSION = '/runtime.v1.RuntimeService/Version';
const NGHTTP2_PROTOCOL_ERROR = 1;
// The shared crictl build (issue 12: ../shared/critest beside the checkout); it sends :authority localhost.
const CRICTL = join(projectRoot(), '..', 'shared', 'critest', 'bin', 'crictl');

function versionAnswer(r: RawResponse): { status: string | undefined; runtimeName?: string } {
  const status = field(r.trailers ?? r.headers, 'grpc-status');
  if (status !== '0' || r.data.length < 5) return { status };
  const res = runtimeServiceDefinition().Version.responseDeserialize(r.data.subarray(5)) as { runtime_name: string };
  return { status, runtimeName: res.runtime_name };
}

t.test('every :authority a real client sends gets a real answer from the daemon', async (t) => {
  const d = await startDaemon(t);
  const authorities = [
    { desc: 'the socket path, as kubelet/crictl <= 1.29 (Go gRPC) send it', authority: d.socket },
    { desc: 'the socket path percent-encoded, as grpc-go unix:// targets send it', authority: encodeURIComponent(d.socket) },
    { desc: 'localhost, as kubelet 1.30+ sends it', authority: 'localhost' },
    { desc: 'an empty authority', authority: '' },
  ];
  for (const huffman of [true, false]) {
    // One connection per encoding, several calls on it: the second and later
    // calls refer to the client's dynamic table, as Go's client does.
    const c = await RawH2Client.connect(d.socket, { encoder: { huffman, indexing: true } });
    for (const a of authorities) {
      for (let round = 0; round < 2; round++) {
        const r = await c.unary(VERSION, a.authority, Buffer.alloc(0));
        t.equal(r.rstCode, undefined, `${a.desc} (huffman ${huffman}, call ${round + 1}): not reset`);
        t.same(versionAnswer(r), { status: '0', runtimeName: 'vmpod' }, `${a.desc} (huffman ${huffman}, call ${round + 1}): Version answered`);
      }
    }
    await c.close();
  }
});

t.test('requests nghttp2 refuses are still refused, and the connection keeps serving', async (t) => {
  const d = await startDaemon(t);
  // A connection that opens with the socket path is served through the rewriter, one that opens with localhost on its socket directly (handoff.ts).
  for (const first of [d.socket, 'localhost']) await refusedOn(t, d.socket, first);
});

async function refusedOn(t: Test, socket: string, first: string): Promise<void> {
  const c = await RawH2Client.connect(socket);
  t.teardown(() => c.close());
  t.same(versionAnswer(await c.unary(VERSION, first, Buffer.alloc(0))), { status: '0', runtimeName: 'vmpod' }, `opened with ${first}`);
  const refused: Array<{ desc: string; extra: Array<[string, string]>; authority?: string }> = [
    { desc: 'an upper-case header name', extra: [['X-Upper', 'v']] },
    { desc: 'a connection-specific header (connection)', extra: [['connection', 'keep-alive']] },
    { desc: 'a connection-specific header (transfer-encoding)', extra: [['transfer-encoding', 'chunked']] },
    { desc: 'te other than trailers', extra: [['te', 'gzip']] },
    { desc: 'an unknown pseudo-header', extra: [[':bogus', 'x']] },
    { desc: 'an authority with a control character', extra: [], authority: `${first}\r` },
    { desc: 'an authority with a leading space', extra: [], authority: ` ${first}` },
  ];
  for (const r of refused) {
    const res = await c.unary(VERSION, r.authority ?? first, Buffer.alloc(0), r.extra);
    t.equal(res.rstCode, NGHTTP2_PROTOCOL_ERROR, `opened with ${first}: ${r.desc}: RST_STREAM PROTOCOL_ERROR`);
    t.equal(res.headers, undefined, `opened with ${first}: ${r.desc}: the server never saw it`);
  }
  const ok = await c.unary(VERSION, first, Buffer.alloc(0));
  t.same(versionAnswer(ok), { status: '0', runtimeName: 'vmpod' }, `opened with ${first}: the same connection still answers a good request`);
}

t.test('the socket keeps its semantics: mode 0660 root-owned, removed on SIGTERM, open connections closed', async (t) => {
  const d = await startDaemon(t);
  const st = statSync(d.socket);
  t.equal(st.mode & 0o777, 0o660);
  t.equal(st.uid, 0);
  const c = await RawH2Client.connect(d.socket);
  t.same(versionAnswer(await c.unary(VERSION, d.socket, Buffer.alloc(0))), { status: '0', runtimeName: 'vmpod' });
  t.equal(await d.stop(), 0, 'SIGTERM exits 0');
  await c.closed; // the daemon closed the idle connection while draining
  t.notOk(existsSync(d.socket), 'socket file removed');
});

const crictlMissing = existsSync(CRICTL) ? false : `crictl is missing at ${CRICTL} (the shared critest build); the raw HTTP/2 tests above still cover the transport`;
t.test('crictl v1.26.1 talks to the daemon', { skip: crictlMissing }, async (t) => {
  const d = await startDaemon(t);
  const r = spawnSync(CRICTL, ['--runtime-endpoint', `unix://${d.socket}`, '--timeout', '20s', 'version'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /RuntimeName:\s+vmpod/);
});
