// mount/umount from the addon, on the host (root): a tmpfs on a temp dir,
// unmounted in teardown. powerOff() is never called here, for obvious reasons;
// the guest agent exercises it on DestroySandbox.

import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount, umount, MS, MNT, powerOff } from '../../../../common/native/syscalls';

function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

t.test('mount and umount a tmpfs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-mount-'));
  t.teardown(() => {
    if (isMounted(dir)) umount(dir, MNT.DETACH);
    rmSync(dir, { recursive: true, force: true });
  });
  mount('tmpfs', dir, 'tmpfs', MS.NOSUID | MS.NODEV, 'size=1m,mode=0700');
  t.ok(isMounted(dir), 'mounted');
  writeFileSync(join(dir, 'f'), 'x');
  mount('', dir, '', MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV, null);
  t.throws(() => writeFileSync(join(dir, 'g'), 'x'), { code: 'EROFS' }, 'read-only after remount');
  umount(dir);
  t.notOk(isMounted(dir), 'unmounted');
  t.notOk(existsSync(join(dir, 'f')), 'the tmpfs content is gone with it');
});

const failures: Array<{ desc: string; run: () => void; match: { code: string; syscall?: string; path?: string } | { name: string } }> = [
  { desc: 'umount of a directory that is not a mount point', run: () => umount(tmpdir()), match: { code: 'EINVAL', syscall: 'umount2', path: tmpdir() } },
  { desc: 'mount onto a missing target', run: () => mount('tmpfs', '/nonexistent/vmpod-x', 'tmpfs'), match: { code: 'ENOENT', syscall: 'mount' } },
  { desc: 'mount with an unknown filesystem type', run: () => mount('none', tmpdir(), 'vmpod-nofs'), match: { code: 'ENODEV', syscall: 'mount' } },
  { desc: 'mount with a non-string target', run: () => mount('tmpfs', 5 as unknown as string, 'tmpfs'), match: { name: 'TypeError' } },
  { desc: 'mount with negative flags', run: () => mount('tmpfs', tmpdir(), 'tmpfs', -1), match: { name: 'RangeError' } },
];

t.test('failures carry code, errno and syscall', async (t) => {
  for (const f of failures) t.throws(f.run, f.match, f.desc);
  t.equal(typeof powerOff, 'function', 'powerOff is exported (not called on the host)');
});
