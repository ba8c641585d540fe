// The guest image cache shared by every checkout on a machine: a build
// records the image it used in its own checkout (what that checkout's daemon
// boots), and the build's garbage collection (guest-image/lib/gc.js) deletes
// only images that no checkout record names, no process maps or holds open,
// `current` does not point at, and that are older than the newest unused
// ones it keeps; lib/kernel-gc.js then deletes the guest kernel builds no
// image left was built from. Runs guest-image/build only on its up-to-date path (a fake
// image named by the real input hash, in a temporary cache), so nothing is
// downloaded or built.

import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findGuestImage } from '../../src/host/guest-image';

const REPO = resolve(__dirname, '../../..');
const BUILD = join(REPO, 'guest-image/build');
const GC = join(REPO, 'guest-image/lib/gc.js');
const KERNEL_GC = join(REPO, 'guest-image/lib/kernel-gc.js');

function tempDir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vmpod-guest-cache-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A directory that looks like a finished build to the cache (a manifest; no parts). */
function fakeImage(cache: string, hash: string, ageS: number): string {
  const dir = join(cache, hash);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ hash }));
  const when = Date.now() / 1000 - ageS;
  utimesSync(dir, when, when);
  return dir;
}

const h = (c: string): string => c.repeat(64);

t.test('gc keeps what a checkout, a process or current needs and the newest unused, deletes the rest', async (t) => {
  const root = tempDir(t);
  const cache = join(root, 'cache');
  // Newest first: the build just made g; a..f are older.
  for (const [c, age] of [
    ['0', 10],
    ['a', 20],
    ['b', 30],
    ['c', 40],
    ['d', 50],
    ['e', 60],
    ['f', 70],
  ] as const)
    fakeImage(cache, h(c), age);
  symlinkSync(h('b'), join(cache, 'current'));
  // A checkout whose record names d, and one whose checkout was deleted.
  mkdirSync(join(cache, '.users'));
  const record = join(root, 'checkout', 'dist', 'guest-image.json');
  mkdirSync(join(root, 'checkout', 'dist'), { recursive: true });
  writeFileSync(record, JSON.stringify({ schema: 1, hash: h('d'), dir: join(cache, h('d')) }));
  writeFileSync(join(cache, '.users', 'live'), `${record}\n`);
  writeFileSync(join(cache, '.users', 'gone'), `${join(root, 'deleted-checkout', 'dist', 'guest-image.json')}\n`);
  // A process holding a file of c open (as a daemon holds its manifest; QEMU maps rootfs.img).
  const holder = spawn('sleep', ['60'], { stdio: [openSync(join(cache, h('c'), 'manifest.json'), 'r'), 'ignore', 'ignore'] });
  t.teardown(() => holder.kill());

  const out = execFileSync('node', [GC, cache, '1', h('0')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.equal(out, '', 'nothing on stdout');
  const left = readdirSync(cache)
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => n[0])
    .sort();
  t.same(left, ['0', 'a', 'b', 'c', 'd'], 'kept: the new build, the 1 newest unused (a), current (b), held (c), recorded (d); deleted: e, f');
  t.same(readdirSync(join(cache, '.users')), ['live'], 'the registration of a deleted checkout is dropped');
});

t.test('gc says why it keeps or deletes each build; keep 0 deletes every unused one', async (t) => {
  const root = tempDir(t);
  const cache = join(root, 'cache');
  fakeImage(cache, h('1'), 10);
  fakeImage(cache, h('2'), 20);
  symlinkSync(h('2'), join(cache, 'current'));
  const err = execFileSync('sh', ['-c', `node "$0" "$1" 0 2>&1 >/dev/null`, GC, cache], { encoding: 'utf8' });
  t.match(err, /keeping 222222222222: current points at it/);
  t.match(err, /deleting 111111111111: no checkout record names it, no process uses it/);
  t.same(readdirSync(cache).sort(), [h('2'), 'current'].sort());
});

t.test('kernel gc keeps the kernel just used, every kernel an image in the cache was built from and the newest unused', async (t) => {
  const root = tempDir(t);
  const guests = join(root, 'guest');
  const kernels = join(root, 'kernel');
  // Images: one built from kernel a, one from a Debian kernel (apt), one unfinished (no manifest) naming nothing.
  fakeImage(guests, h('1'), 10);
  writeFileSync(join(guests, h('1'), 'manifest.json'), JSON.stringify({ packages: [{ name: 'vmpod-kernel', version: '-', sha256: h('a'), source: 'built' }] }));
  fakeImage(guests, h('2'), 20);
  writeFileSync(join(guests, h('2'), 'manifest.json'), JSON.stringify({ packages: [{ name: 'linux-image-6.1.0-9-amd64', version: '6.1', sha256: h('e'), source: 'apt' }] }));
  mkdirSync(join(guests, h('3')), { recursive: true });
  // Kernel builds, newest first: n (just used), c, d (unused), a (named by image 1), e, f (unused; e only as an apt package's sha).
  for (const [c, age] of [
    ['0', 5],
    ['c', 10],
    ['d', 20],
    ['a', 30],
    ['e', 40],
    ['f', 50],
  ] as const) {
    mkdirSync(join(kernels, h(c)), { recursive: true });
    const when = Date.now() / 1000 - age;
    utimesSync(join(kernels, h(c)), when, when);
  }
  mkdirSync(join(kernels, `.tmp-${h('9')}-1`));
  const err = execFileSync('sh', ['-c', `node "$0" "$@" 2>&1 >/dev/null`, KERNEL_GC, guests, kernels, '1', h('0')], { encoding: 'utf8' });
  const left = readdirSync(kernels).sort();
  t.same(left, [`.tmp-${h('9')}-1`, h('0'), h('a'), h('c')].sort(), 'kept: the kernel just used, the 1 newest unused (c), a (image 1 was built from it), a build in progress; deleted: d, e, f');
  t.match(err, /keeping aaaaaaaaaaaa: image 111111111111 was built from it/, 'it says why it keeps a kernel');
  t.match(err, /deleting dddddddddddd: no image in the guest cache was built from it/, 'and why it deletes one');
  execFileSync('node', [KERNEL_GC, guests, join(root, 'no-kernel-cache'), '2'], { stdio: 'ignore' });
  t.pass('no kernel cache at all (a Debian-kernel machine) is nothing to do');
});

const missingBuildTools = ['apt-cache', 'flock', 'mkfs.ext4', 'ndctl', 'cpio'].find((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});

t.test(
  'an up-to-date build records its image in the checkout, and findGuestImage follows the record',
  { skip: missingBuildTools && `guest-image/build needs ${missingBuildTools} (scripts/setup installs it)` },
  async (t) => {
    const root = tempDir(t);
    const cache = join(root, 'cache');
    const record = join(root, 'dist', 'guest-image.json');
    const env = { ...process.env, VMPOD_GUEST_CACHE: cache, VMPOD_GUEST_RECORD: record };
    const hash = execFileSync(BUILD, ['--print-hash'], { env, encoding: 'utf8' }).trim();
    // A complete-looking image under that hash: the build finds it up to date.
    const dir = join(cache, hash);
    mkdirSync(dir, { recursive: true });
    const parts: Record<string, { file: string; size: number; sha256: string }> = {};
    for (const [name, file] of [
      ['vmlinux', 'vmlinux'],
      ['bzImage', 'bzImage'],
      ['initramfs', 'initramfs.cpio.gz'],
      ['rootfs', 'rootfs.img'],
    ]) {
      writeFileSync(join(dir, file), file);
      parts[name] = { file, size: file.length, sha256: 'e'.repeat(64) };
    }
    const manifest = {
      schema: 1,
      hash,
      agent: 'bundle',
      kernel: { cmdline: 'console=ttyS0' },
      modules: [],
      parts: { ...parts, rootfs: { ...parts.rootfs, data_offset: 2097152, fs_size: 1, fsdax_align: 2097152 } },
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));

    const printed = execFileSync(BUILD, [], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    t.equal(printed, dir, 'the build prints the image directory');
    t.same(JSON.parse(readFileSync(record, 'utf8')), { schema: 1, hash, dir }, 'and records it in the checkout');
    const users = readdirSync(join(cache, '.users'));
    t.equal(users.length, 1, 'the record is registered with the cache');
    t.equal(readFileSync(join(cache, '.users', users[0]), 'utf8').trim(), record);
    const found = findGuestImage(undefined, { record });
    t.match(found, { dir, hash }, 'the default guest_dir resolves through the record');

    rmSync(record);
    execFileSync(BUILD, [], { env: { ...env, VMPOD_GUEST_RECORD: '' }, stdio: 'ignore' });
    t.notOk(existsSync(record), 'VMPOD_GUEST_RECORD= (an image for a test or bench) records nothing');
  },
);
