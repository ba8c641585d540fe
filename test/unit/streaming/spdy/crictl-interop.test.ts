// Interop with the real Go client: crictl (client-go remotecommand and
// portforward over moby/spdystream) against this SPDY layer. A CRI server
// made up here answers Exec and PortForward with URLs on a loopback HTTP
// server that upgrades with acceptSpdyUpgrade and plays a minimal
// remote-command v4 (stdin upper-cased to stdout, the exit code on the error
// stream) and port-forward (bytes echoed back). Needs the crictl of
// ../shared/critest/bin (or $CRICTL); without it the test says so and fails.

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { createCriServer } from '../../../../src/cri/server';
import { silentLogger } from '../../../../src/log';
import { acceptSpdyUpgrade, type SpdySession, type SpdyStream } from '../../../../src/streaming/spdy';
import { serveCriOn } from '../../../helpers/serve-cri';

const CRICTL = process.env.CRICTL ?? resolve(__dirname, '../../../../../../shared/critest/bin/crictl');

let pings = 0;

/** Remote command v4, just enough: waits for the streams the client opens, answers, reports `exitCode`. */
function remoteCommand(session: SpdySession, wantStdin: boolean, exitCode: number): void {
  const streams = new Map<string, SpdyStream>();
  const expected = wantStdin ? 4 : 3; // error, stdin?, stdout, stderr
  session.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    s.reply();
    streams.set(s.headers.streamtype, s);
    if (streams.size < expected) return;
    const stdout = streams.get('stdout')!;
    const finish = (): void => {
      const status =
        exitCode === 0
          ? { metadata: {}, status: 'Success' }
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: ${exitCode}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
            };
      streams.get('error')!.end(JSON.stringify(status));
      stdout.end();
      streams.get('stderr')!.end();
      session.goAway();
    };
    // spdystream must echo our PING before we answer: proves it reads our even ping ids.
    const pinged = session.ping().then(() => (pings += 1));
    const finishAfterPing = (): void => void pinged.then(finish);
    const stdin = streams.get('stdin');
    if (!stdin) return finishAfterPing();
    stdin.on('data', (c: Buffer) => stdout.write(c.toString().toUpperCase()));
    stdin.on('end', finishAfterPing);
  });
}

/** Port-forward: each data stream echoes what it gets; its error stream stays quiet. */
function portForward(session: SpdySession): void {
  session.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    s.reply();
    if (s.headers.streamtype === 'data') s.pipe(s);
    else s.resume();
  });
}

function run(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(CRICTL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

t.test('crictl exec and port-forward over this SPDY layer', async (t) => {
  if (!existsSync(CRICTL)) {
    t.fail(`crictl not found at ${CRICTL}: set CRICTL to a crictl binary (v1.26+) to run the interop check`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-spdy-interop-'));
  const sessions: SpdySession[] = [];
  const closed: Promise<unknown>[] = [];
  let mode: { kind: 'exec'; stdin: boolean; exitCode: number } | { kind: 'pf' } = { kind: 'pf' };
  const httpServer = http.createServer();
  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const protocols = mode.kind === 'exec' ? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] : ['portforward.k8s.io'];
    const r = acceptSpdyUpgrade(req, socket, head, protocols);
    if (!r) return;
    sessions.push(r.session);
    closed.push(new Promise((res) => r.session.once('close', res)));
    if (mode.kind === 'exec') remoteCommand(r.session, mode.stdin, mode.exitCode);
    else portForward(r.session);
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;
  const runtime = {
    Version: async () => ({ version: '0.1.0', runtime_name: 'spdy-interop', runtime_version: '0', runtime_api_version: 'v1' }),
    Exec: async () => ({ url: `${base}/exec/token` }),
    PortForward: async () => ({ url: `${base}/portforward/token` }),
  };
  const { server } = createCriServer({ runtime, image: {} }, silentLogger);
  const sock = join(dir, 'cri.sock');
  const stop = await serveCriOn(server, sock);
  t.teardown(async () => {
    for (const s of sessions) s.destroy();
    await stop();
    httpServer.closeAllConnections();
    await new Promise<void>((r) => httpServer.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const crictl = ['--runtime-endpoint', `unix://${sock}`, '--timeout', '20s'];

  mode = { kind: 'exec', stdin: true, exitCode: 0 };
  const echo = await run([...crictl, 'exec', '-i', 'c1', 'cat'], 'hello from stdin\n'.repeat(5000));
  t.equal(echo.code, 0, `crictl exec -i succeeds (${echo.stderr.trim()})`);
  t.equal(echo.stdout, 'HELLO FROM STDIN\n'.repeat(5000), '85 KB of stdin went through the server and came back on stdout');

  mode = { kind: 'exec', stdin: false, exitCode: 3 };
  const three = await run([...crictl, 'exec', 'c1', 'false']);
  // client-go decodes the v4 status into "command terminated with exit code 3";
  // crictl v1.26.1 then exits 1 (newer crictl exits with the code itself).
  t.not(three.code, 0, 'crictl exec fails when the command did');
  t.match(three.stderr, /command terminated with exit code 3/, 'the exit code crossed on the error stream');

  mode = { kind: 'pf' };
  const free = await new Promise<number>((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => res(port));
    });
  });
  const pf = spawn(CRICTL, [...crictl, 'port-forward', 'pod1', `${free}:80`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (pf.exitCode === null) pf.kill();
  });
  await new Promise<void>((res) => pf.stdout.on('data', (c: Buffer) => c.toString().includes('Forwarding') && res()));
  for (const size of [10, 300_000]) {
    const payload = Buffer.alloc(size, 'x');
    const echoed = await new Promise<Buffer>((res, rej) => {
      const c = net.connect(free, '127.0.0.1', () => c.write(payload));
      const got: Buffer[] = [];
      let n = 0;
      c.on('data', (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= size) {
          c.end();
          res(Buffer.concat(got));
        }
      });
      c.on('error', rej);
    });
    t.ok(echoed.equals(payload), `port-forward: ${size} bytes there and back through spdystream`);
  }
  pf.kill();
  t.equal(pings, 2, 'spdystream echoed our PING on both exec connections');
  t.ok(sessions.length >= 3, 'one SPDY session per crictl call');
  await Promise.all(closed);
  t.ok(
    sessions.every((s) => !s.alive),
    'every session closed once its client went away (exec after GOAWAY, port-forward when crictl died)',
  );
});
