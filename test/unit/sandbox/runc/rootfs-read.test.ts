import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRootfsFile } from '../../../../src/sandbox/runc/rootfs-read';

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
