// A registry is untrusted: it must not steer the daemon to services on the
// node (redirects and token realms to loopback or the link-local metadata
// address, by address or by a name resolving there), and its error text
// must not reach the CRI caller (only the distribution spec's error codes do).

import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { freePort } from '../helpers/registry';

/** An address of this machine that is not loopback: the fake registry must look remote. */
const remoteLooking = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

let base: string;
const servers: http.Server[] = [];
/** Requests that reached the node-local "victim" service. */
const victimHits: string[] = [];
let victimPort: number;

async function listen(handler: http.RequestListener, host: string): Promise<number> {
  const port = await freePort();
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return port;
}

t.before(async () => {
  base = mkdtempSync(join(tmpdir(), 'vmpod-hostile-reg-'));
  victimPort = await listen((req, res) => {
    victimHits.push(req.url ?? '');
    res.writeHead(200).end('{"token":"x"}');
  }, '127.0.0.1');
});
t.teardown(() => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
function service(host: string): Promise<ImageService> {
  return createImageService({ root: join(base, String(n++)), registries: { [host]: { insecure: true, mirrors: [] } }, log: silentLogger, timeoutMs: 5000 });
}

t.test(
  'redirects and token realms to node-local addresses are refused for a remote registry',
  { skip: remoteLooking ? false : 'this machine has no non-loopback IPv4 address to make the registry look remote' },
  async (t) => {
    const targets = [`http://127.0.0.1:${victimPort}/steal`, `http://localhost:${victimPort}/steal-by-name`, `http://[::ffff:127.0.0.1]:${victimPort}/mapped`];
    for (const target of targets) {
      const port = await listen((req, res) => {
        res.writeHead(302, { location: target }).end();
      }, remoteLooking!);
      const svc = await service(`${remoteLooking}:${port}`);
      await t.rejects(
        svc.pull(`${remoteLooking}:${port}/test/x:v1`, null),
        { message: /(is an address of this node|resolves to .*an address of this node); refused/ },
        `redirect to ${target} refused`,
      );
    }
    for (const target of targets) {
      const port = await listen((req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${target}",service="s"` }).end();
      }, remoteLooking!);
      const svc = await service(`${remoteLooking}:${port}`);
      await t.rejects(
        svc.pull(`${remoteLooking}:${port}/test/x:v1`, null),
        { message: /token endpoint .* unreachable: .*(is an address of this node|an address of this node); refused/ },
        `token realm ${target} refused`,
      );
    }
    t.same(victimHits, [], 'nothing reached the node-local service');
  },
);

t.test('a local registry may still redirect to itself', async (t) => {
  const port = await listen((req, res) => {
    if (req.url?.startsWith('/v2/test/x/manifests/')) res.writeHead(302, { location: `http://127.0.0.1:${victimPort}/moved` }).end();
    else res.writeHead(404).end();
  }, '127.0.0.1');
  const svc = await service(`127.0.0.1:${port}`);
  await t.rejects(svc.pull(`127.0.0.1:${port}/test/x:v1`, null));
  t.same(victimHits, ['/moved'], 'followed: the registry itself is on this node');
  victimHits.length = 0;
});

t.test("a registry's error text does not reach the caller; its error codes do", async (t) => {
  const port = await listen((req, res) => {
    res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: '\u001b[31mvisit evil.example to fix' }, { code: 'lower or <b>html</b>' }] }));
  }, '127.0.0.1');
  const svc = await service(`127.0.0.1:${port}`);
  const err = await svc.pull(`127.0.0.1:${port}/test/x:v1`, null).then(
    () => null,
    (e: Error) => e,
  );
  t.match(err?.message, /\(registry error: DENIED\)/, 'the spec error code is kept');
  t.notMatch(err?.message, /evil\.example|html/, 'the free text is not');
  t.notOk(err?.message.includes('\u001b'), 'nor its escape sequences');
});
