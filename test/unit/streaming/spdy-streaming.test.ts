// Exec and port-forward over SPDY/3.1 with the SPDY module's own client
// (dialSpdy), opening streams the way client-go does: error first, then
// stdin/stdout/stderr (v4), or a data and an error stream per request (port-forward).

import t from 'tap';
import type { StreamOptions } from '../../../src/sandbox/controller';
import { dialSpdy, type SpdySession, type SpdyStream } from '../../../src/streaming/spdy';
import { collect, sessionsGone, startServer } from './harness';

const ALL: StreamOptions = { stdin: true, stdout: true, stderr: true, tty: false };

async function open(session: SpdySession, types: string[]): Promise<Record<string, SpdyStream>> {
  const out: Record<string, SpdyStream> = {};
  for (const type of types) {
    out[type] = await session.openStream({ streamtype: type });
    out[type].on('error', () => undefined);
  }
  return out;
}

t.test('v4 exec: stdin to the process, outputs back, exit 3 as the NonZeroExitCode status', async (t) => {
  const { server, pods } = await startServer(t);
  const { session, protocol } = await dialSpdy(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh'], opts: ALL }), ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
  t.equal(protocol, 'v4.channel.k8s.io');
  const s = await open(session, ['error', 'stdin', 'stdout', 'stderr']);
  const [errText, outText, errOut] = [collect(s.error), collect(s.stdout), collect(s.stderr)];
  const p = await pods.process();
  s.stdin.end('input');
  await p.waitStdinEnd();
  t.equal(p.input, 'input', 'stdin and its EOF reached the process');
  p.stdout?.write('out');
  p.stderr?.write('err');
  p.exit(3);
  t.equal(await outText, 'out');
  t.equal(await errOut, 'err');
  const status = JSON.parse(await errText) as { reason: string; details: { causes: unknown[] } };
  t.equal(status.reason, 'NonZeroExitCode');
  t.same(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  session.destroy();
  await sessionsGone(server);
});

t.test('v3 tty: resize stream; v2/v3 send nothing on success', async (t) => {
  const { server, pods } = await startServer(t);
  const { session } = await dialSpdy(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh'], opts: { stdin: true, stdout: true, stderr: false, tty: true } }), ['v3.channel.k8s.io']);
  const s = await open(session, ['error', 'stdin', 'stdout', 'resize']);
  const errText = collect(s.error);
  const p = await pods.process();
  s.resize.write('{"Width":120,"Height":40}');
  await p.waitResizes(1);
  t.same(p.resizes, [{ width: 120, height: 40 }]);
  p.exit(0);
  t.equal(await errText, '', 'no status text on success before v4');
  session.destroy();
});

t.test('the client going away mid-exec closes the process', async (t) => {
  const { server, pods } = await startServer(t);
  const { session } = await dialSpdy(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sleep'], opts: ALL }), ['v4.channel.k8s.io']);
  await open(session, ['error', 'stdin', 'stdout', 'stderr']);
  const p = await pods.process();
  session.destroy();
  await sessionsGone(server);
  t.equal(p.closed, 1);
});

t.test('port-forward: two pairs on one connection, and a refused port on its error stream', async (t) => {
  const { server, pods } = await startServer(t);
  const { session, protocol } = await dialSpdy(server.issue({ kind: 'portforward', podId: 'p1', ports: [] }), ['portforward.k8s.io']);
  t.equal(protocol, 'portforward.k8s.io');
  const pair = async (id: string, port: number) => {
    const error = await session.openStream({ streamtype: 'error', port: String(port), requestid: id });
    const data = await session.openStream({ streamtype: 'data', port: String(port), requestid: id });
    for (const s of [error, data]) s.on('error', () => undefined);
    return { error, data };
  };
  const a = await pair('0', 8080);
  const b = await pair('1', 1);
  t.match(await collect(b.error), /error forwarding port 1 to pod p1: connection refused/);
  const d = await pods.dial(0);
  t.equal(d.port, 8080);
  a.data.write('ping');
  const got = await new Promise<string>((resolve) => d.peer.once('data', (x: Buffer) => resolve(x.toString())));
  t.equal(got, 'ping');
  const back = collect(a.data);
  d.peer.end('pong');
  t.equal(await back, 'pong', 'the pod side ending ends the data stream');
  session.destroy();
  await sessionsGone(server);
});

t.test('a client that lingers after the status is still ended by closing the server', async (t) => {
  const { server, pods } = await startServer(t);
  const { session } = await dialSpdy(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['true'], opts: { stdin: false, stdout: true, stderr: false, tty: false } }), ['v4.channel.k8s.io']);
  const s = await open(session, ['error', 'stdout']);
  const status = collect(s.error);
  s.stdout.resume();
  (await pods.process()).exit(0);
  t.same(JSON.parse(await status), { metadata: {}, status: 'Success' });
  t.equal(server.activeSessions, 1, 'held while the connection is open');
  const gone = new Promise((resolve) => session.once('close', resolve));
  await server.close();
  await gone;
  t.equal(server.activeSessions, 0);
});
