// The daemon's reads of paths a guest or an image can write: nothing is
// followed, nothing blocks, only a regular file of bounded size is read.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileInRoot, readRegularFile } from '../../../src/host/safe-read';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'vmpod-safe-read-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** fds of this process open on something under the tmp dir: a read that returned must have closed its fd. */
function openUnderDir(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((p) => p.startsWith(dir));
}

writeFileSync(join(dir, 'passwd'), 'root:x:0:0::/:/bin/sh\n');
writeFileSync(join(dir, 'host-secret'), 'host secret');
symlinkSync(join(dir, 'host-secret'), join(dir, 'link'));
execFileSync('mkfifo', [join(dir, 'fifo')]);
symlinkSync('/dev/zero', join(dir, 'zero-link'));
writeFileSync(join(dir, 'big'), Buffer.alloc(64 * 1024 + 1, 'x'));
mkdirSync(join(dir, 'a-dir'));
if (root) execFileSync('mknod', [join(dir, 'zero-node'), 'c', '1', '5']);

t.test('readRegularFile reads only a regular file, never blocks or follows', async (t) => {
  const cases: { desc: string; name: string; want: string | { reason: string }; skip?: string | false }[] = [
    { desc: 'a normal file', name: 'passwd', want: 'root:x:0:0::/:/bin/sh\n' },
    { desc: 'a symlink to a host file is not followed', name: 'link', want: { reason: 'symlink' } },
    { desc: 'a FIFO with no writer does not block', name: 'fifo', want: { reason: 'not-regular' } },
    { desc: '/dev/zero through a symlink', name: 'zero-link', want: { reason: 'symlink' } },
    { desc: 'a char device node (/dev/zero made by mknod)', name: 'zero-node', want: { reason: 'not-regular' }, skip: !root && 'mknod needs root' },
    { desc: 'a directory', name: 'a-dir', want: { reason: 'not-regular' } },
    { desc: 'a missing file', name: 'nothing', want: { reason: 'absent' } },
    { desc: 'a file over the cap', name: 'big', want: { reason: 'too-large' } },
  ];
  for (const c of cases) {
    if (c.skip) {
      t.test(c.desc, { skip: c.skip }, () => undefined);
      continue;
    }
    const r = await readRegularFile(join(dir, c.name), 64 * 1024);
    if (typeof c.want === 'string') t.same(r.ok && r.data.toString(), c.want, c.desc);
    else t.match(r, { ok: false, reason: c.want.reason }, c.desc);
  }
  t.same(openUnderDir(), [], 'no fd left open');
});

t.test('readRegularFile: the fd decides, not the name (swapped between the lstat and the open)', async (t) => {
  // The lstat is of a regular file; the open meets the FIFO or the symlink
  // that replaced it. O_NOFOLLOW refuses the symlink, O_NONBLOCK opens the
  // FIFO at once, and fstat refuses it.
  const cases = [
    { desc: 'swapped for a FIFO', swap: (p: string) => execFileSync('mkfifo', [p]), reason: 'not-regular' },
    { desc: 'swapped for a symlink to a host file', swap: (p: string) => symlinkSync(join(dir, 'host-secret'), p), reason: 'symlink' },
  ];
  for (const c of cases) {
    const p = join(dir, `swap-${c.reason}`);
    writeFileSync(p, 'image passwd');
    const { lstat } = await import('node:fs/promises');
    // Swap right after the helper's lstat: its only await before the open.
    const swapped = lstat(p).then(() => {
      rmSync(p);
      c.swap(p);
    });
    const r = await readRegularFile(p);
    await swapped;
    t.not(r.ok && r.data.toString(), 'host secret', `${c.desc}: the host file is never read`);
    // Whether the swap landed before the open is up to the scheduler; the same swap done first is checked above.
    t.ok(!r.ok || r.data.toString() === 'image passwd', `${c.desc}: either the original file or a refusal`);
  }
  t.same(openUnderDir(), [], 'no fd left open');
});

t.test('readFileInRoot resolves inside the root and opens each component without following', async (t) => {
  const r = join(dir, 'root');
  mkdirSync(join(r, 'etc'), { recursive: true });
  mkdirSync(join(r, 'real'));
  writeFileSync(join(r, 'real', 'passwd'), 'image passwd');
  symlinkSync('/real/passwd', join(r, 'etc', 'passwd'));
  symlinkSync(join(dir, 'host-secret'), join(r, 'etc', 'abs-escape'));
  symlinkSync('../../../../../../host-secret', join(r, 'etc', 'rel-escape'));
  writeFileSync(join(r, 'host-secret'), 'image file');
  execFileSync('mkfifo', [join(r, 'etc', 'fifo')]);
  symlinkSync('/dev/zero', join(r, 'etc', 'zero'));
  // A directory component that is a host symlink: resolved in the root, so it names the root's own /tmp.
  symlinkSync(dir, join(r, 'dirlink'));
  symlinkSync('loop2', join(r, 'etc', 'loop1'));
  symlinkSync('loop1', join(r, 'etc', 'loop2'));
  const cases: { desc: string; path: string; want: string | { reason: string } }[] = [
    { desc: 'absolute link inside the root', path: '/etc/passwd', want: 'image passwd' },
    { desc: 'absolute link to a host path stays in the root', path: '/etc/abs-escape', want: { reason: 'absent' } },
    { desc: 'relative .. cannot climb out', path: '/etc/rel-escape', want: 'image file' },
    { desc: 'a FIFO does not block', path: '/etc/fifo', want: { reason: 'not-regular' } },
    { desc: "/dev/zero by symlink is the root's /dev/zero (absent)", path: '/etc/zero', want: { reason: 'absent' } },
    { desc: 'a directory symlink to a host dir stays in the root', path: '/dirlink/host-secret', want: { reason: 'absent' } },
    { desc: 'a symlink loop', path: '/etc/loop1', want: { reason: 'loop' } },
    { desc: '.. in the request is clamped at the root', path: '/../../etc/../real/passwd', want: 'image passwd' },
    { desc: 'a file as a directory', path: '/real/passwd/x', want: { reason: 'absent' } },
  ];
  for (const c of cases) {
    const got = await readFileInRoot(r, c.path);
    if (typeof c.want === 'string') t.same(got.ok && got.data.toString(), c.want, c.desc);
    else t.match(got, { ok: false, reason: c.want.reason }, c.desc);
  }
  t.same(openUnderDir(), [], 'no fd left open');
});
