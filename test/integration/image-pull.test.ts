// Pulls from a real docker-registry on loopback: by tag and digest, a
// multi-arch index, whiteouts and opaque dirs across layers mounted as an
// overlay, a zstd layer, concurrent pulls, rmi + GC, corrupted blobs.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../../common/errors';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { busyboxEntries, makeTar, RegistryPusher, sha256 } from '../helpers/image-builder';
import { registryBlobPath, startRegistry, type RunningRegistry } from '../helpers/registry';

let reg: RunningRegistry;
let push: RegistryPusher;
let root: string;
let svc: ImageService;

t.before(async () => {
  reg = await startRegistry();
  push = new RegistryPusher(reg);
  root = mkdtempSync(join(tmpdir(), 'vmpod-image-'));
  svc = await createImageService({ root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
});
t.teardown(async () => {
  for (const l of svc ? readdirSync(join(root, 'image', 'leases')) : []) await svc.releaseRootfs(l.replace(/\.json$/, ''));
  await reg?.stop();
  rmSync(root, { recursive: true, force: true });
});

const xattr = (path: string, name: string): string => {
  try {
    return execFileSync('getfattr', ['--only-values', '-h', '-n', name, path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return '';
  }
};

t.test('pull by tag and by digest; config and files land in the snapshot', async (t) => {
  const base = await makeTar(busyboxEntries());
  const app = await makeTar([{ name: 'app/' }, { name: 'app/hello', content: 'hi\n', mode: 0o4755, uid: 1000, gid: 1000 }]);
  const img = await push.pushImage(
    'test/busybox',
    'v1',
    [
      { tar: base, compression: 'gzip' },
      { tar: app, compression: 'none' },
    ],
    { config: { User: '1000:1000', WorkingDir: '/app', Entrypoint: ['/bin/sh', '-c'], ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGINT' } },
  );

  const rec = await svc.pull(`${reg.host}/test/busybox:v1`, null);
  t.equal(rec.id, img.configDigest, 'image id is the config digest');
  t.same(rec.repoTags, [`${reg.host}/test/busybox:v1`]);
  t.same(rec.repoDigests, [`${reg.host}/test/busybox@${img.manifestDigest}`]);
  t.equal(rec.config.User, '1000:1000');
  t.same(rec.config.Entrypoint, ['/bin/sh', '-c']);
  t.same(rec.config.ExposedPorts, ['80/tcp']);
  t.equal(rec.config.StopSignal, 'SIGINT');
  t.equal(rec.chainIds.length, 2);
  const lower = svc.snapshots.fsDir(rec.chainIds[0]);
  t.ok(lstatSync(join(lower, 'bin/sh')).isSymbolicLink(), 'symlink kept');
  t.equal(lstatSync(join(lower, 'bin/ls')).ino, lstatSync(join(lower, 'bin/busybox')).ino, 'hardlink kept');
  t.equal(lstatSync(join(lower, 'tmp')).mode & 0o7777, 0o1777, 'sticky dir mode kept');
  const hello = lstatSync(join(svc.snapshots.fsDir(rec.chainIds[1]), 'app/hello'));
  t.equal(hello.mode & 0o7777, 0o4755, 'setuid mode kept after chown');
  t.equal(hello.uid, 1000, 'owner kept');
  t.equal(hello.mtime.toISOString(), '2024-01-02T03:04:05.000Z', 'mtime kept');

  const byDigest = await svc.pull(`${reg.host}/test/busybox@${img.manifestDigest}`, null);
  t.equal(byDigest.id, rec.id, 'same image by digest');
  t.equal(svc.resolve(`${reg.host}/test/busybox@${img.manifestDigest}`).id, rec.id, 'resolve by digest');
  t.equal(svc.resolve(rec.id.slice(7, 19)).id, rec.id, 'resolve by short id');
  t.throws(() => svc.resolve(`${reg.host}/test/busybox:nope`), NotFoundError);
  await t.rejects(svc.pull(`${reg.host}/test/busybox:missing`, null), NotFoundError, 'unknown tag is NotFound');
});

t.test('multi-arch index: the linux/amd64 manifest is chosen', async (t) => {
  const mk = async (arch: string): Promise<Buffer> => makeTar([{ name: 'arch', content: arch }]);
  const amd = await push.pushImage('test/multi', undefined, [{ tar: await mk('amd64'), compression: 'gzip' }], { platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await push.pushImage('test/multi', undefined, [{ tar: await mk('arm64'), compression: 'gzip' }], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const indexDigest = await push.pushIndex('test/multi', 'latest', [arm, amd]);
  const rec = await svc.pull(`${reg.host}/test/multi`, null);
  t.equal(rec.id, amd.configDigest, 'amd64 image chosen');
  t.equal(rec.topDigest, indexDigest, 'repo digest is the index digest');
  t.equal(readFileSync(join(svc.snapshots.fsDir(rec.chainIds[0]), 'arch'), 'utf8'), 'amd64');
  const list = await push.pushIndex('test/multi', 'armonly', [arm], true);
  t.ok(list);
  await t.rejects(svc.pull(`${reg.host}/test/multi:armonly`, null), { code: 'FAILED_PRECONDITION', message: /no manifest for platform linux\/amd64/ }, 'no matching platform');
});

t.test('whiteouts and opaque dirs across layers, mounted as overlay', async (t) => {
  const l1 = await makeTar([...busyboxEntries(), { name: 'keep/' }, { name: 'keep/a', content: 'a' }, { name: 'keep/gone', content: 'x' }, { name: 'opq/' }, { name: 'opq/old', content: 'old' }]);
  const l2 = await makeTar([{ name: 'keep/' }, { name: 'keep/.wh.gone', content: '' }, { name: 'opq/' }, { name: 'opq/.wh..wh..opq', content: '' }, { name: 'opq/new', content: 'new' }]);
  await push.pushImage('test/wh', 'v1', [
    { tar: l1, compression: 'gzip' },
    { tar: l2, compression: 'gzip' },
  ]);
  const rec = await svc.pull(`${reg.host}/test/wh:v1`, null);
  const top = svc.snapshots.fsDir(rec.chainIds[1]);
  const wh = lstatSync(join(top, 'keep/gone'));
  t.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device');
  t.notOk(existsSync(join(top, 'keep/.wh.gone')), 'no .wh. file left');
  t.equal(xattr(join(top, 'opq'), 'trusted.overlay.opaque'), 'y', 'opaque xattr set');

  const layout = await svc.prepareRootfs('ctr-wh', `${reg.host}/test/wh:v1`);
  t.same(layout.lowerdirs, [top, svc.snapshots.fsDir(rec.chainIds[0])], 'lowerdirs top first');
  await svc.mountRootfs('ctr-wh');
  t.same(readdirSync(join(layout.mountpoint, 'keep')).sort(), ['a'], 'whited-out file hidden');
  t.same(readdirSync(join(layout.mountpoint, 'opq')), ['new'], 'opaque dir hides the lower content');
  writeFileSync(join(layout.mountpoint, 'keep/written'), 'w');
  t.ok(existsSync(join(layout.upper, 'keep/written')), 'writes land in the upper dir');
  await svc.releaseRootfs('ctr-wh');
  t.notOk(existsSync(layout.mountpoint), 'rootfs dirs deleted on release');
});

t.test('zstd layer', async (t) => {
  const tarB = await makeTar([{ name: 'z/' }, { name: 'z/file', content: 'zstd content' }]);
  await push.pushImage('test/zstd', 'v1', [{ tar: tarB, compression: 'zstd' }]);
  const rec = await svc.pull(`${reg.host}/test/zstd:v1`, null);
  t.equal(readFileSync(join(svc.snapshots.fsDir(rec.chainIds[0]), 'z/file'), 'utf8'), 'zstd content');
  t.equal(rec.diffIds[0], sha256(tarB));
});

t.test('concurrent pulls of one image share one download', async (t) => {
  const tarB = await makeTar([{ name: 'c/' }, { name: 'c/big', content: Buffer.alloc(3 << 20, 7) }]);
  const img = await push.pushImage('test/conc', 'v1', [{ tar: tarB, compression: 'gzip' }]);
  const calls = new Map<string, number>();
  const orig = svc.content.ingest.bind(svc.content);
  svc.content.ingest = (digest, ...rest) => {
    calls.set(digest, (calls.get(digest) ?? 0) + 1);
    return orig(digest, ...rest);
  };
  t.teardown(() => void (svc.content.ingest = orig));
  const recs = await Promise.all([1, 2, 3].map(() => svc.pull(`${reg.host}/test/conc:v1`, null)));
  t.ok(
    recs.every((r) => r.id === img.configDigest),
    'all pulls return the image',
  );
  t.equal(calls.get(img.layerDigests[0]), 1, 'the layer was downloaded once');
  await svc.pull(`${reg.host}/test/conc:v1`, null);
  t.equal(calls.get(img.layerDigests[0]), 1, 'a present layer is not downloaded again');
});

t.test('rmi frees space, keeps snapshots a container still uses, GC after release', async (t) => {
  const tarB = await makeTar([{ name: 'r/' }, { name: 'r/data', content: Buffer.alloc(1 << 20, 1) }]);
  const img = await push.pushImage('test/rmi', 'v1', [{ tar: tarB, compression: 'none' }]);
  const before = (await svc.fsUsage()).images;
  const rec = await svc.pull(`${reg.host}/test/rmi:v1`, null);
  const pulled = (await svc.fsUsage()).images;
  t.ok(pulled.bytes > before.bytes + (1 << 20), 'usage grows by the image');
  t.ok(pulled.inodes > before.inodes, 'inodes grow');

  const layout = await svc.prepareRootfs('ctr-rmi', rec.id);
  await svc.mountRootfs('ctr-rmi');
  t.equal(await svc.remove(`${reg.host}/test/rmi:v1`), true, 'removed by tag');
  t.equal(svc.find(rec.id), undefined, 'record gone');
  t.equal(await svc.remove(rec.id), false, 'second remove is a no-op');
  t.ok(existsSync(svc.snapshots.fsDir(rec.chainIds[0])), 'snapshot kept while the container uses it');
  t.equal(readFileSync(join(layout.mountpoint, 'r/data')).length, 1 << 20, 'running container still reads its files');
  t.notOk(await svc.content.has(img.layerDigests[0]), 'unreferenced blob collected');
  await svc.releaseRootfs('ctr-rmi');
  t.notOk(existsSync(svc.snapshots.fsDir(rec.chainIds[0])), 'snapshot collected after release');
  const after = (await svc.fsUsage()).images;
  t.ok(after.bytes < pulled.bytes - (1 << 20), 'ImageFsInfo bytes drop after rmi');
});

t.test('a blob corrupted in the registry fails the pull and stores nothing', async (t) => {
  const tarB = await makeTar([{ name: 'bad/' }, { name: 'bad/file', content: Buffer.alloc(4096, 3) }]);
  const img = await push.pushImage('test/corrupt', 'v1', [{ tar: tarB, compression: 'none' }]);
  const p = registryBlobPath(reg, img.layerDigests[0]);
  const bytes = readFileSync(p);
  bytes[bytes.length - 100] ^= 0xff;
  writeFileSync(p, bytes);
  await t.rejects(svc.pull(`${reg.host}/test/corrupt:v1`, null), { code: 'FAILED_PRECONDITION', message: /digest/ }, 'digest mismatch');
  t.notOk(await svc.content.has(img.layerDigests[0]), 'corrupt blob not stored');
  t.same(readdirSync(svc.content.ingestDir), [], 'no partial file left');
  t.equal(svc.find(`${reg.host}/test/corrupt:v1`), undefined, 'no image record');
});

t.test('an image with 50 layers mounts (options longer than one page)', async (t) => {
  const layers = [];
  for (let i = 0; i < 50; i++) layers.push({ tar: await makeTar([{ name: `l${i}`, content: String(i) }]), compression: 'none' as const });
  await push.pushImage('test/many', 'v1', layers);
  const rec = await svc.pull(`${reg.host}/test/many:v1`, null);
  t.equal(rec.chainIds.length, 50);
  const layout = await svc.prepareRootfs('ctr-many', rec.id);
  t.ok(layout.lowerdirs.join(':').length > 4000, 'absolute lowerdirs would not fit');
  await svc.mountRootfs('ctr-many');
  t.equal(readFileSync(join(layout.mountpoint, 'l0'), 'utf8'), '0', 'bottom layer visible');
  t.equal(readFileSync(join(layout.mountpoint, 'l49'), 'utf8'), '49', 'top layer visible');
  await svc.releaseRootfs('ctr-many');
});

t.test('prepareRootfs into a caller dir: release deletes only what it made', async (t) => {
  const rec = svc.resolve(`${reg.host}/test/zstd:v1`);
  const share = mkdtempSync(join(root, 'share-'));
  writeFileSync(join(share, 'keep-me'), 'pod data');
  const layout = await svc.prepareRootfs('ctr-share', rec.id, share);
  t.same(layout, { lowerdirs: [svc.snapshots.fsDir(rec.chainIds[0])], upper: join(share, 'upper'), work: join(share, 'work'), mountpoint: join(share, 'rootfs') });
  t.same(await svc.prepareRootfs('ctr-share', rec.id, share), layout, 'idempotent');
  await svc.mountRootfs('ctr-share');
  t.equal(readFileSync(join(layout.mountpoint, 'z/file'), 'utf8'), 'zstd content');
  t.same(svc.usersOf(rec.id), ['ctr-share']);
  await svc.releaseRootfs('ctr-share');
  await svc.releaseRootfs('ctr-share');
  t.same(readdirSync(share), ['keep-me'], 'caller dir and its other files kept');
  t.same(svc.usersOf(rec.id), []);
  await t.rejects(svc.prepareRootfs('../evil', rec.id), { code: 'INVALID_ARGUMENT' }, 'container id checked');
});

t.test('prepareRootfs that fails half-way (the lease write) leaves no directory behind', async (t) => {
  const rec = svc.resolve(`${reg.host}/test/zstd:v1`);
  const leases = (svc as unknown as { leases: { put(l: unknown): void } }).leases;
  const put = leases.put.bind(leases);
  leases.put = () => {
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  };
  t.teardown(() => (leases.put = put));
  await t.rejects(svc.prepareRootfs('ctr-full', rec.id), /ENOSPC/);
  t.notOk(existsSync(join(root, 'image', 'containers', 'ctr-full')), 'its own container dir is gone (found by test/fault/disk-full)');
  const share = mkdtempSync(join(root, 'share-full-'));
  writeFileSync(join(share, 'keep-me'), 'pod data');
  await t.rejects(svc.prepareRootfs('ctr-full2', rec.id, share), /ENOSPC/);
  t.same(readdirSync(share), ['keep-me'], "in a caller's dir, only what it made is removed");
});

t.test('re-pushing a tag moves it to the new image; the old one keeps only its digest', async (t) => {
  const v1 = await push.pushImage('test/retag', 'latest', [{ tar: await makeTar([{ name: 'v', content: '1' }]), compression: 'none' }]);
  const old = await svc.pull(`${reg.host}/test/retag`, null);
  const v2 = await push.pushImage('test/retag', 'latest', [{ tar: await makeTar([{ name: 'v', content: '2' }]), compression: 'none' }]);
  const now = await svc.pull(`${reg.host}/test/retag`, null);
  t.not(now.id, old.id);
  t.equal(svc.resolve(`${reg.host}/test/retag:latest`).id, v2.configDigest, 'tag points to the new image');
  t.same(svc.resolve(old.id).repoTags, [], 'old image untagged');
  t.same(svc.resolve(old.id).repoDigests, [`${reg.host}/test/retag@${v1.manifestDigest}`], 'old image still reachable by digest');
});
