// Registry access: TLS with a private CA and htpasswd basic auth, the
// bearer-token flow against a token endpoint served by this test, every
// AuthConfig form, mirrors (tried in order, the image keeps its name) and
// `insecure` hosts.

import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryConfig } from '../../src/config/types';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { busyboxEntries, makeTar, RegistryPusher, type PushedImage } from '../helpers/image-builder';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';

let plain: RunningRegistry;
let secure: RunningRegistry;
let token: http.Server;
let tokenHost: string;
let base: string;
let plainImg: PushedImage;
let secureImg: PushedImage;
const tokenLog: string[] = [];
/** Every request the token front saw: path and Authorization header (to prove what was never sent where). */
const seenAuth: string[] = [];

const USER = 'alice';
const PASS = 's3cret';

/** A bearer-token front for the plain registry: 401 + challenge without a token, `/token` issues one. */
async function startTokenFront(upstream: RunningRegistry): Promise<{ server: http.Server; host: string }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    seenAuth.push(`${url.pathname} ${req.headers.authorization ?? '-'}`);
    if (url.pathname === '/token') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const basic = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
        const form = new URLSearchParams(body);
        const ok = req.headers.authorization === basic || (req.method === 'POST' && form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === 'refresh-123');
        tokenLog.push(`${req.method} service=${url.searchParams.get('service') ?? form.get('service')} scope=${url.searchParams.get('scope') ?? form.get('scope')}`);
        if (!ok) {
          res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'issued-token', expires_in: 300 }));
      });
      return;
    }
    const auth = req.headers.authorization;
    if (auth !== 'Bearer issued-token' && auth !== 'Bearer static-registry-token') {
      const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${repo}:pull"` }).end();
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: Number(upstream.host.split(':')[1]), path: req.url, method: req.method, headers: { ...req.headers, authorization: '' } }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, host };
}

t.before(async () => {
  plain = await startRegistry();
  secure = await startRegistry({ tls: true, auth: { username: USER, password: PASS } });
  const layer = { tar: await makeTar(busyboxEntries()), compression: 'gzip' as const };
  plainImg = await new RegistryPusher(plain).pushImage('test/auth', 'v1', [layer]);
  secureImg = await new RegistryPusher(secure).pushImage('test/auth', 'v1', [layer], { docker: true });
  const front = await startTokenFront(plain);
  token = front.server;
  tokenHost = front.host;
  base = mkdtempSync(join(tmpdir(), 'vmpod-image-auth-'));
});
t.teardown(async () => {
  token?.close();
  token?.closeAllConnections();
  await plain?.stop();
  await secure?.stop();
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
async function service(registries: Record<string, RegistryConfig>): Promise<ImageService> {
  return createImageService({ root: join(base, String(n++)), registries, log: silentLogger, timeoutMs: 5000 });
}

t.test('TLS registry with basic auth', async (t) => {
  const svc = await service({ [secure.host]: { insecure: false, mirrors: [], ca_file: secure.caFile } });
  const ref = `${secure.host}/test/auth:v1`;
  const cases: { desc: string; auth: Record<string, string> | null; want: 'ok' | RegExp }[] = [
    { desc: 'no credentials', auth: null, want: /requires authentication.*no credentials/ },
    { desc: 'wrong password', auth: { username: USER, password: 'wrong' }, want: /refused access.*check the username and password/ },
    { desc: 'username and password', auth: { username: USER, password: PASS }, want: 'ok' },
    { desc: 'auth (base64 user:pass)', auth: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') }, want: 'ok' },
  ];
  for (const c of cases) {
    if (c.want === 'ok') {
      const rec = await svc.pull(ref, c.auth);
      t.equal(rec.id, secureImg.configDigest, `${c.desc}: pulled`);
    } else {
      const fresh = await service({ [secure.host]: { insecure: false, mirrors: [], ca_file: secure.caFile } });
      await t.rejects(fresh.pull(ref, c.auth), { code: 'UNAUTHENTICATED', message: c.want }, `${c.desc}: UNAUTHENTICATED`);
    }
  }
});

t.test('a token or basic auth obtained with one pull secret is not reused by a pull without it', async (t) => {
  const cases: [string, string, Record<string, RegistryConfig>][] = [
    ['basic', secure.host, { [secure.host]: { insecure: false, mirrors: [], ca_file: secure.caFile } }],
    ['bearer', tokenHost, { [tokenHost]: { insecure: true, mirrors: [] } }],
  ];
  for (const [desc, host, cfg] of cases) {
    const svc = await service(cfg);
    await svc.pull(`${host}/test/auth:v1`, { username: USER, password: PASS });
    await t.rejects(svc.pull(`${host}/test/auth:v1`, null), { code: 'UNAUTHENTICATED' }, `${desc}: anonymous pull refused after an authenticated one`);
    await t.rejects(svc.pull(`${host}/test/auth:v1`, { username: USER, password: 'bad' }), { code: 'UNAUTHENTICATED' }, `${desc}: wrong password refused after a good one`);
  }
});

t.test('TLS trust: unknown CA refused unless the host is insecure', async (t) => {
  const strict = await service({});
  await t.rejects(strict.pull(`${secure.host}/test/auth:v1`, { username: USER, password: PASS }), { code: 'UNAVAILABLE', message: /certificate/ }, 'self-signed cert refused by default');
  const insecure = await service({ [secure.host]: { insecure: true, mirrors: [] } });
  const rec = await insecure.pull(`${secure.host}/test/auth:v1`, { username: USER, password: PASS });
  t.equal(rec.id, secureImg.configDigest, 'insecure host: unverified TLS accepted');
});

t.test('plain HTTP only for insecure hosts', async (t) => {
  const strict = await service({});
  await t.rejects(strict.pull(`${plain.host}/test/auth:v1`, null), { code: 'UNAVAILABLE' }, 'HTTPS expected by default');
  const ok = await service({ [plain.host]: { insecure: true, mirrors: [] } });
  t.equal((await ok.pull(`${plain.host}/test/auth:v1`, null)).id, plainImg.configDigest, 'insecure host over plain HTTP');
});

t.test('bearer token flow with each AuthConfig form', async (t) => {
  const ref = `${tokenHost}/test/auth:v1`;
  const cfg = { [tokenHost]: { insecure: true, mirrors: [] } };
  const cases: { desc: string; auth: Record<string, string> | null; want: 'ok' | RegExp }[] = [
    { desc: 'anonymous is refused by the token endpoint', auth: null, want: /refused the anonymous request/ },
    { desc: 'wrong password', auth: { username: USER, password: 'nope' }, want: /refused the credentials/ },
    { desc: 'username/password exchanged for a token', auth: { username: USER, password: PASS }, want: 'ok' },
    { desc: 'identity_token used as refresh token', auth: { username: USER, identity_token: 'refresh-123' }, want: 'ok' },
    { desc: 'registry_token sent as bearer', auth: { registry_token: 'static-registry-token' }, want: 'ok' },
  ];
  for (const c of cases) {
    const svc = await service(cfg);
    tokenLog.length = 0;
    if (c.want === 'ok') {
      t.equal((await svc.pull(ref, c.auth)).id, plainImg.configDigest, `${c.desc}: pulled`);
    } else {
      await t.rejects(svc.pull(ref, c.auth), { code: 'UNAUTHENTICATED', message: c.want }, `${c.desc}: UNAUTHENTICATED`);
    }
    if (!c.auth?.registry_token) t.match(tokenLog[0] ?? '', /service=test-registry scope=repository:test\/auth:pull/, `${c.desc}: token request carries service and scope`);
    else t.same(tokenLog, [], 'registry_token needs no token endpoint');
  }
});

t.test('mirrors: tried in order, then the registry; the image keeps its name', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const svc = await service({
    'registry.invalid': { insecure: false, mirrors: [dead, plain.host] },
    [dead]: { insecure: true, mirrors: [] },
    [plain.host]: { insecure: true, mirrors: [] },
  });
  const rec = await svc.pull('registry.invalid/test/auth:v1', null);
  t.equal(rec.id, plainImg.configDigest, 'served by the second mirror');
  t.same(rec.repoTags, ['registry.invalid/test/auth:v1'], 'listed under its original name');
  t.same(rec.repoDigests, [`registry.invalid/test/auth@${plainImg.manifestDigest}`]);
  const fallback = await service({ [plain.host]: { insecure: true, mirrors: [dead] }, [dead]: { insecure: true, mirrors: [] } });
  t.equal((await fallback.pull(`${plain.host}/test/auth:v1`, null)).id, plainImg.configDigest, 'falls back to the registry when mirrors fail');
});

t.test('credentials stay with their registry: not sent to mirrors, nor to a plain-HTTP token endpoint elsewhere', async (t) => {
  const port = tokenHost.split(':')[1];
  // The token front as a mirror of a registry the pull has a password for: the mirror must see no password.
  seenAuth.length = 0;
  const viaMirror = await service({ 'registry.invalid': { insecure: false, mirrors: [tokenHost] }, [tokenHost]: { insecure: true, mirrors: [] } });
  await t.rejects(viaMirror.pull('registry.invalid/test/auth:v1', { username: USER, password: PASS }), 'the mirror wants credentials it does not get; the registry itself does not resolve');
  t.ok(seenAuth.length > 0, 'the mirror was asked');
  t.same(
    seenAuth.filter((l) => !l.endsWith(' -')),
    [],
    'no Authorization header ever reached the mirror',
  );
  // The same front reached as localhost: its challenge names a realm on 127.0.0.1, another host, over plain HTTP.
  seenAuth.length = 0;
  const otherRealm = await service({ [`localhost:${port}`]: { insecure: true, mirrors: [] } });
  await t.rejects(otherRealm.pull(`localhost:${port}/test/auth:v1`, { username: USER, password: PASS }), {
    code: 'UNAUTHENTICATED',
    message: /plain HTTP on another host; vmpod does not send credentials/,
  });
  t.same(
    seenAuth.filter((l) => l.startsWith('/token')),
    [],
    'the token endpoint was never called with the password',
  );
  t.same(
    seenAuth.filter((l) => !l.endsWith(' -')),
    [],
    'no Authorization header sent anywhere',
  );
});
