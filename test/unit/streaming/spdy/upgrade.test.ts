// The HTTP upgrade: protocol negotiation as apimachinery's Handshake does it
// (the client's first offer the server supports; 400 without the header;
// 403 listing what we accept), the upgrade-header check, and dialSpdy's
// error on refusal.

import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptSpdyUpgrade, dialSpdy, negotiateProtocol, type SpdyStream } from '../../../../src/streaming/spdy';
import { spdyPair } from './pair';
import { opensslAvailable, selfSignedCert } from '../../../helpers/tls';

t.test('negotiateProtocol', async (t) => {
  const server = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  const cases: { name: string; offered: string[] | undefined; want: ReturnType<typeof negotiateProtocol>['ok'] | string; status?: number }[] = [
    { name: "the client's first supported offer", offered: ['v5.channel.k8s.io', 'v3.channel.k8s.io', 'v4.channel.k8s.io'], want: 'v3.channel.k8s.io' },
    { name: 'comma-separated values', offered: ['x, channel.k8s.io'], want: 'channel.k8s.io' },
    { name: 'no header', offered: undefined, want: false, status: 400 },
    { name: 'only blanks', offered: [' , '], want: false, status: 400 },
    { name: 'nothing in common', offered: ['v9.channel.k8s.io'], want: false, status: 403 },
  ];
  for (const c of cases) {
    const got = negotiateProtocol(c.offered, server);
    if (got.ok) t.equal(got.protocol, c.want, c.name);
    else {
      t.equal(got.ok, c.want, c.name);
      t.equal(got.status, c.status, `${c.name}: HTTP ${c.status}`);
    }
  }
});

async function rawUpgrade(headers: Record<string, string | string[]>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const r = acceptSpdyUpgrade(req, socket, head, ['v4.channel.k8s.io', 'channel.k8s.io']);
    if (r) r.session.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

t.test('the server answers the handshake as kubelet does', async (t) => {
  const ok = await rawUpgrade({ Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': ['v5.channel.k8s.io', 'v4.channel.k8s.io'] });
  t.equal(ok.status, 101, '101 Switching Protocols');
  t.equal(ok.headers['x-stream-protocol-version'], 'v4.channel.k8s.io', 'the chosen protocol is echoed');
  t.equal(ok.headers.upgrade, 'SPDY/3.1');

  const none = await rawUpgrade({ Connection: 'Upgrade', Upgrade: 'SPDY/3.1' });
  t.equal(none.status, 400, 'no protocol header: 400');
  t.match(none.body, /X-Stream-Protocol-Version does not exist/);

  const alien = await rawUpgrade({ Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v9.channel.k8s.io' });
  t.equal(alien.status, 403, 'nothing in common: 403');
  t.equal(alien.headers['x-accepted-stream-protocol-versions'], 'v4.channel.k8s.io, channel.k8s.io', 'listing what we accept, one header each');

  const ws = await rawUpgrade({ Connection: 'Upgrade', Upgrade: 'websocket', 'X-Stream-Protocol-Version': 'channel.k8s.io' });
  t.equal(ws.status, 400, 'not a SPDY upgrade: 400');
  t.match(ws.body, /missing upgrade headers/);
});

t.test('dialSpdy: the chosen protocol, or the refusal as an error', async (t) => {
  const p = await spdyPair(['v4.channel.k8s.io', 'channel.k8s.io'], ['v3.channel.k8s.io', 'channel.k8s.io']);
  t.equal(p.protocol, 'channel.k8s.io', "the client's first offer the server supports");
  await p.close();
  await t.rejects(spdyPair(['v4.channel.k8s.io'], ['v1.channel.k8s.io']), /refused: HTTP 403 unable to upgrade/);
  await t.rejects(dialSpdy('http://127.0.0.1:1/', ['x']), /ECONNREFUSED/, 'nobody listening');
});

t.test('dialSpdy over TLS trusts the given CA, and only it', { skip: opensslAvailable ? false : 'openssl is not installed: no certificate to test with' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-spdy-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSignedCert(dir);
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const r = acceptSpdyUpgrade(req, socket, head, ['portforward.k8s.io']);
    r?.session.on('stream', (s: SpdyStream) => {
      s.reply();
      s.pipe(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/portforward/x`;
  await t.rejects(dialSpdy(url, ['portforward.k8s.io']), /self-signed|self signed/, 'an unknown CA is refused');
  const { session, protocol } = await dialSpdy(url, ['portforward.k8s.io'], { ca: readFileSync(cert) });
  t.equal(protocol, 'portforward.k8s.io');
  const s = await session.openStream({ streamtype: 'data', port: '80' });
  s.end('over tls');
  const got: Buffer[] = [];
  for await (const c of s) got.push(c as Buffer);
  t.equal(Buffer.concat(got).toString(), 'over tls', 'a stream echoes over the TLS session');
  session.destroy();
});
