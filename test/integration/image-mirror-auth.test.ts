// Per-host credentials in the config: a mirror gets its own
// (`[registries."<mirror>".auth]`) and never the pull's CRI AuthConfig,
// which goes to the image's registry only; a registry the pull brings no
// credentials for gets its configured ones. Two docker-registry instances
// with htpasswd auth and different users; a recording front before the
// mirror sees every Authorization header sent to it.

import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryConfig } from '../../src/config/types';
import { createImageService } from '../../src/image';
import { basicHeader } from '../../src/image/auth';
import { silentLogger } from '../../src/log';
import { busyboxEntries, makeTar, RegistryPusher, type PushedImage } from '../helpers/image-builder';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';

const REGISTRY_USER = { username: 'pod-secret-user', password: 'pod-secret-pass' };
const MIRROR_USER = { username: 'mirror-user', password: 'mirror-pass' };
const POD_SECRET = basicHeader(REGISTRY_USER.username, REGISTRY_USER.password);
const MIRROR_SECRET = basicHeader(MIRROR_USER.username, MIRROR_USER.password);

let registry: RunningRegistry;
let mirror: RunningRegistry;
let front: http.Server;
let mirrorHost: string;
let base: string;
let onMirrorOnly: PushedImage;
let onBoth: PushedImage;
/** Authorization header of every request that reached the mirror ('-' for none). */
const mirrorSaw: string[] = [];

/** A plain-HTTP front for the mirror that records what each request carried. */
async function recordingFront(upstream: RunningRegistry): Promise<{ server: http.Server; host: string }> {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    mirrorSaw.push(req.headers.authorization ?? '-');
    const up = http.request({ host: '127.0.0.1', port: Number(upstream.host.split(':')[1]), path: req.url, method: req.method, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, host: `127.0.0.1:${port}` };
}

t.before(async () => {
  registry = await startRegistry({ auth: REGISTRY_USER });
  mirror = await startRegistry({ auth: MIRROR_USER });
  const layer = { tar: await makeTar(busyboxEntries()), compression: 'gzip' as const };
  onMirrorOnly = await new RegistryPusher(mirror).pushImage('test/mirrored', 'v1', [layer], { config: { User: 'mirror-only' } });
  onBoth = await new RegistryPusher(mirror).pushImage('test/both', 'v1', [layer]);
  await new RegistryPusher(registry).pushImage('test/both', 'v1', [layer]);
  const f = await recordingFront(mirror);
  front = f.server;
  mirrorHost = f.host;
  base = mkdtempSync(join(tmpdir(), 'vmpod-image-mirror-auth-'));
});
t.teardown(async () => {
  await new Promise<void>((r) => (front ? front.close(() => r()) : r()));
  front?.closeAllConnections();
  await registry?.stop();
  await mirror?.stop();
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
function service(registries: Record<string, RegistryConfig>) {
  return createImageService({ root: join(base, `root-${n++}`), registries, log: silentLogger });
}

t.test("the mirror gets its own configured credentials and never the pull's", async (t) => {
  mirrorSaw.length = 0;
  const svc = await service({
    [registry.host]: { insecure: true, mirrors: [mirrorHost] },
    [mirrorHost]: { insecure: true, mirrors: [], auth: { ...MIRROR_USER } },
  });
  const rec = await svc.pull(`${registry.host}/test/mirrored:v1`, { ...REGISTRY_USER });
  t.equal(rec.id, onMirrorOnly.configDigest, 'pulled through the mirror (only it has this image)');
  t.ok(mirrorSaw.includes(MIRROR_SECRET), 'the mirror was sent its own credentials from [registries."<mirror>".auth]');
  t.notOk(mirrorSaw.includes(POD_SECRET), "the pull's credentials never reached the mirror");
  t.same(
    mirrorSaw.filter((a) => a !== '-' && a !== MIRROR_SECRET),
    [],
    'nothing but its own credentials',
  );
  await svc.close();
});

t.test("a mirror without configured credentials is refused, and the registry gets the pull's", async (t) => {
  mirrorSaw.length = 0;
  const svc = await service({ [registry.host]: { insecure: true, mirrors: [mirrorHost] }, [mirrorHost]: { insecure: true, mirrors: [] } });
  const rec = await svc.pull(`${registry.host}/test/both:v1`, { ...REGISTRY_USER });
  t.equal(rec.id, onBoth.configDigest, 'served by the registry after the mirror said 401');
  t.ok(mirrorSaw.length > 0, 'the mirror was asked first');
  t.same(
    mirrorSaw.filter((a) => a !== '-'),
    [],
    'the mirror saw no Authorization header at all',
  );
  // Only the mirror has this one: without its own credentials it does not serve it, and the pull's are not tried on it.
  await t.rejects(svc.pull(`${registry.host}/test/mirrored:v1`, { ...REGISTRY_USER }), { code: 'NOT_FOUND', message: new RegExp(`registry ${registry.host} has no such manifest`) });
  t.notOk(mirrorSaw.includes(POD_SECRET), 'still never the pull secret');
  await svc.close();
});

t.test("a pull without credentials uses the registry's configured ones; one with credentials uses its own", async (t) => {
  const configured = await service({ [registry.host]: { insecure: true, mirrors: [], auth: { auth: Buffer.from(`${REGISTRY_USER.username}:${REGISTRY_USER.password}`).toString('base64') } } });
  t.equal((await configured.pull(`${registry.host}/test/both:v1`, null)).id, onBoth.configDigest, 'the configured auth (base64) opened the registry');
  await configured.close();
  const wrongConfig = await service({ [registry.host]: { insecure: true, mirrors: [], auth: { username: 'nobody', password: 'wrong' } } });
  t.equal((await wrongConfig.pull(`${registry.host}/test/both:v1`, { ...REGISTRY_USER })).id, onBoth.configDigest, "the pull's credentials win over the configured ones for the registry itself");
  await t.rejects(wrongConfig.pull(`${registry.host}/test/both:v1`, null), { code: 'UNAUTHENTICATED' }, 'without them the (wrong) configured ones are sent and refused');
  await wrongConfig.close();
});
