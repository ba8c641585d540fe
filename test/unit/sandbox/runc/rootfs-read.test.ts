import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageUserFilesCache, readRootfsFile } from '../../../../src/sandbox/runc/rootfs-read';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-rootfs-read-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const root = join(dir, 'root');
const outside = join(dir, 'secret');
writeFileSync(outside, 'host secret');
mkdirSync(join(root, 'etc'), { recursive: true });
mkdirSync(join(root, 'real'), { recursive: true });
writeFileSync(join(root, 'real', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
writeFileSync(join(root, 'secret'), 'image file');

t.test('symlinks resolve inside the rootfs, never on the host', async (t) => {
  symlinkSync('/real/passwd', join(root, 'etc', 'passwd'));
  symlinkSync(outside, join(root, 'etc', 'abs-escape'));
  symlinkSync('../../../../../../secret', join(root, 'etc', 'rel-escape'));
  symlinkSync('loop2', join(root, 'etc', 'loop1'));
  symlinkSync('loop1', join(root, 'etc', 'loop2'));
  const cases: { desc: string; path: string; want: string }[] = [
    { desc: 'absolute link inside the image', path: '/etc/passwd', want: 'root:x:0:0::/:/bin/sh\n' },
    { desc: 'absolute link to a host path stays in the rootfs', path: '/etc/abs-escape', want: '' },
    { desc: 'relative .. cannot climb out', path: '/etc/rel-escape', want: 'image file' },
    { desc: 'symlink loop', path: '/etc/loop1', want: '' },
    { desc: 'missing file', path: '/etc/group', want: '' },
    { desc: 'a directory is not read', path: '/etc', want: '' },
  ];
  for (const c of cases) t.equal(await readRootfsFile(root, c.path), c.want, c.desc);
  t.equal(await readRootfsFile(root, '/../../etc/../real/passwd'), 'root:x:0:0::/:/bin/sh\n', '.. in the request is clamped at the root');
});

/** An image of two layers (top first): passwd in the lower one, group in the top one, /etc in both. */
function twoLayers(name: string): string[] {
  const [top, lower] = [join(dir, name, 'top'), join(dir, name, 'lower')];
  mkdirSync(join(top, 'etc'), { recursive: true });
  mkdirSync(join(lower, 'etc'), { recursive: true });
  writeFileSync(join(lower, 'etc', 'passwd'), `${name}:x:1000:1000::/:/bin/sh\n`);
  writeFileSync(join(top, 'etc', 'group'), `${name}:x:1000:\n`);
  return [top, lower];
}

t.test("an image's user files are read from its layers once per layer list, and kept", async (t) => {
  let probes = 0;
  const cache = new ImageUserFilesCache(async () => {
    probes++;
    return false;
  });
  const layers = twoLayers('a');
  // The rootfs argument is not looked at when the layers are given: nothing is mounted there.
  const first = await cache.read(join(dir, 'not-mounted'), layers);
  t.same(first, { passwd: 'a:x:1000:1000::/:/bin/sh\n', group: 'a:x:1000:\n' }, 'merged across both layers');
  t.equal(probes, 1, "the top layer's /etc was probed for opacity once");
  // A layer never changes once unpacked; this write shows that the second read came from the cache, not the disk.
  writeFileSync(join(layers[1], 'etc', 'passwd'), 'changed:x:1:1::/:/bin/sh\n');
  t.same(await cache.read(join(dir, 'not-mounted'), layers), first, 'the same layer list answers from the cache');
  t.equal(cache.size, 1);
  const other = twoLayers('b');
  t.same((await cache.read(join(dir, 'not-mounted'), other)).group, 'b:x:1000:\n', 'another layer list is read on its own');
  t.equal(cache.size, 2);
});

t.test('a failed read is not kept, and the cache is bounded', async (t) => {
  let fail = true;
  const cache = new ImageUserFilesCache(async () => {
    if (fail) throw new Error('getfattr failed');
    return false;
  });
  const layers = twoLayers('c');
  await t.rejects(cache.read('/nowhere', layers), /getfattr failed/);
  t.equal(cache.size, 0, 'the failure was forgotten');
  fail = false;
  t.same((await cache.read('/nowhere', layers)).passwd, 'c:x:1000:1000::/:/bin/sh\n', 'read again after the failure');
  for (let i = 0; i < 70; i++) await cache.read('/nowhere', [join(dir, 'absent-layer', String(i))]);
  t.equal(cache.size, 64, 'at most 64 layer lists are kept');
});

t.test('without layers, a plain rootfs is read in place and not kept', async (t) => {
  const cache = new ImageUserFilesCache(async () => false);
  t.same(await cache.read(root), { passwd: 'root:x:0:0::/:/bin/sh\n', group: '' }, 'its /etc/passwd symlink resolved inside it');
  t.equal(cache.size, 0);
});
