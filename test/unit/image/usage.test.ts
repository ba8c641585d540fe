// The usage walk (writable layers, the image store): counts files and blocks
// as du -x does, each hard-linked inode once, does not follow symlinks, does
// not cross into a filesystem mounted below, and stops counting at its entry cap.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirUsage } from '../../../src/image/usage';

t.test('dirUsage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-du-'));
  const mnt = join(dir, 'mnt');
  t.teardown(() => {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      /* not mounted */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  writeFileSync(join(dir, 'a', 'b', 'f'), Buffer.alloc(64 * 1024, 1));
  linkSync(join(dir, 'a', 'b', 'f'), join(dir, 'a', 'hardlink'));
  symlinkSync('/usr', join(dir, 'to-usr'));
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'vmpod-du', mnt]);
  for (let i = 0; i < 50; i++) writeFileSync(join(mnt, `x${i}`), 'x');
  const u = await dirUsage(dir);
  t.equal(u.inodes, 5, 'the root, a, a/b, a/b/f (once, though linked twice) and the symlink; not /usr, not the tmpfs mounted below');
  t.ok(u.bytes >= 64 * 1024 && u.bytes < 2 * 64 * 1024, `the 64 KiB file's blocks are counted once (${u.bytes})`);
  t.equal((await dirUsage(dir, 2)).inodes, 2, 'stops counting at the cap');
  t.same(await dirUsage(join(dir, 'nope')), { bytes: 0, inodes: 0 }, 'a missing dir is empty');
});
