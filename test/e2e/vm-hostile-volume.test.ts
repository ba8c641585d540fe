// What a hostile guest can make on the host through each 9p security model
// (issue 15), in the real guest with the real agent: one VM under TCG with
// a `none` export (the pod share's model) and a `mapped-xattr` export, both
// built by the daemon's virtio9pArgs (test/helpers/two-model-guest.ts).
// The container, root in its guest, runs
//   cp /bin/busybox X/sh; chown 0:0 X/sh; chmod 4755 X/sh;
//   mknod X/d b 8 0; mkfifo X/p
// on the mapped-xattr volume: on the host, lstat of every entry shows no
// set-id bit, no device, no FIFO and no symlink, while in the guest the
// files look as the guest made them and a file the host put there (uid
// 1234, mode 0640) keeps its owner and mode. The same chown and chmod on
// the none export land on the host as asked (a set-id-root host file), and
// a host symlink reads in the guest through none but not through
// mapped-xattr (ELOOP): why the pod share, which serves image layers,
// cannot simply switch models. The daemon therefore serves writable CRI
// mounts through a second, mapped-xattr export; the CRI-level version of
// this test, through a VM pod's writable hostPath volume, is
// vm-hostile-volume-cri.test.ts.

import t from 'tap';
import { chownSync, chmodSync, lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findGuestImage } from '../../src/host/guest-image';
import { missingForTwoModelGuest, startTwoModelGuest, type TwoModelGuest } from '../helpers/two-model-guest';
import { lstatWalk } from '../helpers/lstat-walk';

// One VM boot under TCG on a loaded 2-core machine.
t.setTimeout(15 * 60_000);

const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
const missing = 'missing' in found ? found.missing : found.manifest.agent !== 'bundle' ? `guest image ${found.dir} holds the fallback agent` : missingForTwoModelGuest();
if (missing !== undefined || 'missing' in found) {
  t.fail(`hostile-volume e2e test cannot run: ${missing}`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'vmpod-hostile-'));
  let guest: TwoModelGuest | undefined;
  t.teardown(async () => {
    await guest?.close();
    rmSync(work, { recursive: true, force: true });
  });

  t.test('mapped-xattr: the guest makes no set-id file, node, FIFO or symlink on the host, and sees what it made', async (t) => {
    guest = await startTwoModelGuest(found, work);
    const { mapped } = guest.dirs;
    const hostFile = join(mapped, 'from-host');
    writeFileSync(hostFile, 'host data\n');
    chmodSync(hostFile, 0o640);
    chownSync(hostFile, 1234, 1234);

    const attack = await guest.sh(
      'set -e; cd /mapped; cp /bin/busybox sh; chown 0:0 sh; chmod 4755 sh; mknod d b 8 0; mkfifo p; mkdir sub; cp /bin/busybox sub/g; chmod 2755 sub/g; ln -s /etc/shadow link',
    );
    t.same(attack, { code: 0, out: '' }, 'every step succeeds in the guest (it is root there)');

    const seen = await guest.sh(
      'stat -c "%n %F %u:%g %a" /mapped/sh /mapped/d /mapped/p /mapped/sub/g /mapped/link /mapped/from-host; readlink /mapped/link; cat /mapped/from-host; /mapped/sh -c "echo runs"',
    );
    t.same(
      seen.out.split('\n'),
      [
        '/mapped/sh regular file 0:0 4755',
        '/mapped/d block special file 0:0 644',
        '/mapped/p fifo 0:0 644',
        '/mapped/sub/g regular file 0:0 2755',
        '/mapped/link symbolic link 0:0 777',
        '/mapped/from-host regular file 1234:1234 640',
        '/etc/shadow',
        'host data',
        'runs',
      ],
      'in the guest everything is as the guest made it; the host file keeps its owner and mode',
    );
    t.equal(seen.code, 0, 'and the guest-made binary runs');

    const onHost = lstatWalk(mapped);
    t.ok(
      onHost.some((e) => e.path === join(mapped, 'sh')),
      'the host sees the files the guest made',
    );
    t.same(
      onHost.filter((e) => e.mode & 0o6000),
      [],
      'no set-id file on the host',
    );
    t.same(
      onHost.filter((e) => e.kind !== 'file' && e.kind !== 'dir'),
      [],
      'no device node, FIFO or symlink on the host: only regular files and dirs',
    );
    t.same(
      onHost.filter((e) => e.path !== hostFile && e.mode & 0o077),
      [],
      "what the guest made is 0600/0700 on the host (QEMU's own user only)",
    );
    t.match(lstatSync(hostFile), { uid: 1234, gid: 1234 }, "the host's own file keeps its owner on the host");
    t.equal(lstatSync(hostFile).mode & 0o7777, 0o640, 'and its mode');
  });

  t.test('the trade-off: none lets set-id bits through, mapped-xattr cannot read host symlinks', async (t) => {
    if (!guest) {
      t.fail('the guest did not start');
      return;
    }
    const { none, mapped } = guest.dirs;
    const r = await guest.sh('set -e; cp /bin/busybox /none/sh; chown 0:0 /none/sh; chmod 4755 /none/sh');
    t.same(r, { code: 0, out: '' }, "the guest's chown and chmod succeed on the none export");
    t.match(lstatSync(join(none, 'sh')), { uid: 0, mode: 0o104755 }, 'through none a set-id-root file lands on the host');

    writeFileSync(join(work, 'target'), 'target data\n');
    symlinkSync('../target', join(none, 'hostlink'));
    symlinkSync('../target', join(mapped, 'hostlink'));
    const viaNone = await guest.sh('readlink /none/hostlink');
    t.same(viaNone, { code: 0, out: '../target' }, 'a host symlink reads through none');
    const viaMapped = await guest.sh('readlink /mapped/hostlink');
    t.equal(viaMapped.code, 1, `a host symlink does not read through mapped-xattr (${viaMapped.out})`);
    const stat = await guest.sh('stat -c %F /mapped/hostlink');
    t.same(stat, { code: 0, out: 'symbolic link' }, 'although the guest sees it is one');
  });
}
