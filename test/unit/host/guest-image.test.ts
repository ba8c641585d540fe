import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findGuestImage, guestImageProbe, guestPartPath, holdGuestImage, manifestProblem, type GuestManifest } from '../../../src/host/guest-image';

const HASH = 'a'.repeat(64);
const FILES = { vmlinux: 'vmlinux', bzImage: 'bzImage', initramfs: 'initramfs.cpio.gz', rootfs: 'rootfs.img' } as const;

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A complete guest directory whose parts hold their own names as content. */
function makeGuest(root: string, name = HASH): { dir: string; manifest: GuestManifest } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const part = (file: string) => {
    writeFileSync(join(dir, file), file);
    return { file, size: file.length, sha256: sha(file) };
  };
  const manifest: GuestManifest = {
    schema: 1,
    hash: HASH,
    built_at: '2026-01-01T00:00:00.000Z',
    kernel: { package: 'linux-image-x', release: '6.1.0-x', payload_compression: 'xz', cmdline: 'console=ttyS0 panic=1' },
    packages: [],
    node: 'v20.0.0',
    crun: '1.8.1',
    agent: 'fallback',
    agent_source: '/x',
    vsock_addon: false,
    modules: ['virtio.ko'],
    parts: {
      vmlinux: part(FILES.vmlinux),
      bzImage: part(FILES.bzImage),
      initramfs: part(FILES.initramfs),
      rootfs: { ...part(FILES.rootfs), data_offset: 2097152, fs_size: 1, fsdax_align: 2097152 },
    },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, manifest };
}

function tempRoot(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-guest-image-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

t.test('a complete guest directory is found, through the current symlink, with its real path', async (t) => {
  const root = tempRoot(t);
  const { dir } = makeGuest(root);
  symlinkSync(HASH, join(root, 'current'));
  const found = findGuestImage(join(root, 'current'), { verifyHashes: true });
  if ('missing' in found) {
    t.fail(found.missing);
    return;
  }
  t.equal(found.dir, dir);
  t.equal(found.hash, HASH);
  t.equal(guestPartPath(found, 'rootfs'), join(dir, 'rootfs.img'));
  t.equal(found.manifest.parts.rootfs.data_offset, 2097152);
});

const broken: Array<{ desc: string; damage: (dir: string, m: GuestManifest) => void; expect: RegExp }> = [
  { desc: 'manifest missing', damage: (d) => rmSync(join(d, 'manifest.json')), expect: /manifest\.json does not exist/ },
  { desc: 'manifest not JSON', damage: (d) => writeFileSync(join(d, 'manifest.json'), '{'), expect: /cannot be read/ },
  {
    desc: 'manifest of another schema',
    damage: (d, m) => writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...m, schema: 2 })),
    expect: /schema 2/,
  },
  {
    desc: 'part entry missing from the manifest',
    damage: (d, m) => writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...m, parts: { ...m.parts, initramfs: undefined } })),
    expect: /no part "initramfs"/,
  },
  {
    desc: 'part file name escapes the directory',
    damage: (d, m) => writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...m, parts: { ...m.parts, vmlinux: { ...m.parts.vmlinux, file: '../x' } } })),
    expect: /part "vmlinux" has no valid "file"/,
  },
  { desc: 'part file missing', damage: (d) => rmSync(join(d, 'vmlinux')), expect: /vmlinux .* does not exist/ },
  { desc: 'part file truncated', damage: (d) => truncateSync(join(d, 'rootfs.img'), 3), expect: /rootfs .* has 3 bytes, the manifest says 10/ },
  { desc: 'part file altered, same size (hash check)', damage: (d) => writeFileSync(join(d, 'bzImage'), 'BZIMAGE'), expect: /bzImage .* does not match the sha256/ },
];

for (const c of broken) {
  t.test(`missing: ${c.desc}`, async (t) => {
    const root = tempRoot(t);
    const { dir, manifest } = makeGuest(root);
    c.damage(dir, manifest);
    const found = findGuestImage(dir, { verifyHashes: true });
    t.ok('missing' in found, 'reported missing');
    if ('missing' in found) {
      t.match(found.missing, c.expect);
      t.match(found.missing, /guest-image\/build/, 'says how to fix it');
    }
  });
}

t.test('a directory that does not exist is missing, and the probe says so', async (t) => {
  const root = tempRoot(t);
  const found = findGuestImage(join(root, 'nope'));
  t.ok('missing' in found);
  const probe = guestImageProbe(join(root, 'nope'));
  t.equal(probe.ok, false);
  t.match(probe.detail, /does not exist/);
});

t.test('the probe reports hash, kernel and a fallback agent', async (t) => {
  const root = tempRoot(t);
  const { dir } = makeGuest(root);
  const probe = guestImageProbe(dir);
  t.equal(probe.ok, true);
  t.match(probe.detail, /\(guest_dir = ".*" in the handler's config\) hash aaaaaaaaaaaa kernel 6\.1\.0-x node v20\.0\.0, modules: 1 at boot, none on demand .*, FALLBACK agent/);
});

t.test('without a directory, the image this checkout recorded is used, and must be the one recorded', async (t) => {
  const root = tempRoot(t);
  const { dir, manifest } = makeGuest(root);
  const record = join(root, 'checkout', 'dist', 'guest-image.json');
  mkdirSync(join(root, 'checkout', 'dist'), { recursive: true });
  t.match(
    findGuestImage(undefined, { record }),
    { missing: /no guest image is recorded for this vmpod \(.*checkout\): .*guest-image\.json does not exist; run guest-image\/build in/ },
    'no record: says which checkout and how to fix it',
  );

  writeFileSync(record, JSON.stringify({ schema: 1, hash: HASH, dir }));
  const found = findGuestImage('', { record });
  if ('missing' in found) {
    t.fail(found.missing);
    return;
  }
  t.equal(found.dir, dir, 'the recorded directory');
  t.match(found.why, /guest_dir is empty: the image this checkout's build recorded in .*guest-image\.json/);

  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, hash: 'b'.repeat(64) }));
  t.match(findGuestImage(undefined, { record }), { missing: /is of image b{64}, but .*guest-image\.json names a{64}/ }, 'a directory holding another image is refused');
});

t.test('a configured directory wins over the record', async (t) => {
  const root = tempRoot(t);
  const { dir } = makeGuest(root);
  const record = join(root, 'guest-image.json');
  writeFileSync(record, JSON.stringify({ schema: 1, hash: 'c'.repeat(64), dir: join(root, 'elsewhere') }));
  const found = findGuestImage(dir, { record });
  t.notOk('missing' in found, 'found');
  if (!('missing' in found)) t.match(found.why, /^guest_dir = /);
});

t.test('a directory the record names that is gone says where the name came from', async (t) => {
  const root = tempRoot(t);
  const record = join(root, 'guest-image.json');
  writeFileSync(record, JSON.stringify({ schema: 1, hash: HASH, dir: join(root, HASH) }));
  t.match(findGuestImage(undefined, { record }), { missing: /directory .* \(guest_dir is empty: the image this checkout's build recorded in .*\) does not exist: rebuild it/ });
});

t.test('holdGuestImage keeps the manifest open until released', async (t) => {
  const root = tempRoot(t);
  const { dir } = makeGuest(root);
  const found = findGuestImage(dir);
  if ('missing' in found) {
    t.fail(found.missing);
    return;
  }
  const openManifests = (): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === join(dir, 'manifest.json');
      } catch {
        return false;
      }
    }).length;
  const release = holdGuestImage(found);
  t.equal(openManifests(), 1, "held: the build's garbage collection sees it open");
  release();
  t.equal(openManifests(), 0, 'released');
});

t.test('size is checked without verifyHashes, content only with it', async (t) => {
  const root = tempRoot(t);
  const { dir } = makeGuest(root);
  writeFileSync(join(dir, 'vmlinux'), 'VMLINUX');
  t.notOk('missing' in findGuestImage(dir), 'same size passes the cheap check');
  t.ok('missing' in findGuestImage(dir, { verifyHashes: true }), 'hash check catches it');
});

t.test('manifestProblem accepts what the build writes and rejects a bad hash', async (t) => {
  const root = tempRoot(t);
  const { manifest } = makeGuest(root);
  t.equal(manifestProblem(manifest), undefined);
  t.match(manifestProblem({ ...manifest, hash: 'xyz' }) ?? '', /hash/);
  t.match(manifestProblem({ ...manifest, agent: 'real' }) ?? '', /agent/);
});
