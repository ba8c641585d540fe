// A hostile guest cannot plant set-id files, device nodes or FIFOs on the
// host through a writable volume (issue 15), through the CRI API: one VM
// under TCG, a VM pod whose root container (containerd's default
// capabilities: chown, fowner, fsetid, mknod) gets a writable hostPath
// volume (a dir this test makes) and runs
//   cp /bin/busybox /data/sh; chown 0:0 /data/sh; chmod 4755 /data/sh;
//   mknod /data/d b 8 0; mkfifo /data/p
// Writable CRI mounts are served through the pod's volume share, a 9p
// export with security_model=mapped-xattr (microvm/layout.ts): on the host,
// lstat of every entry under the dir shows no set-id bit, no device, no
// FIFO and no symlink, while in the guest the files look as the guest made
// them (the guest's owner, mode and node type live in user.virtfs.*
// xattrs). A file the host put there (uid 1234, 0640) reads in the guest
// with its real owner and mode, and the image's files, symlinks included
// (/bin/sh is one), still work: the rootfs stays on the pod share.
//
// Then what a kubelet emptyDir with an fsGroup is (a 02777 dir of group
// 1234): a non-root container with that supplementary group makes a dir and
// a file in it. In the guest they have the dir's group and the new dir the
// setgid bit, as on a local filesystem; on the host they are QEMU's files,
// 0600/0700, in the group (the host kernel's setgid inheritance, which also
// gives the new dir its setgid bit there; no file is set-id): the trade-off
// docs/security.md names, host processes of that group cannot read what
// the guest wrote.
//
// All of it twice: in a cold VM pod, and in one restored from a template
// (issue 17: the isolation properties hold for templated pods as for cold
// ones).

import t, { type Test } from 'tap';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podPaths } from '../../src/sandbox/microvm/layout';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';
import { lstatWalk } from '../helpers/lstat-walk';

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);

// Two VM boots (a cold pod's, then a template's) under TCG on a loaded 2-core machine.
t.setTimeout(15 * 60_000);

if ('missing' in guest) {
  t.fail(`VM hostile-volume CRI e2e test cannot run: ${guest.missing}`);
} else {
  // Cold, and restored from a template: a restored VM's exports are the same 9p devices, mounted after the restore.
  t.test('a cold VM pod', async (t) => hostileVolumeCri(t, guest, false));
  t.test('a VM pod restored from a template', async (t) => hostileVolumeCri(t, guest, true));
}

function hostileVolumeCri(t: Test, image: Exclude<typeof guest, { missing: string }>, template: boolean): void {
  const world = vmE2e({
    guest: image,
    tmpPrefix: template ? 'vhvt-' : 'vhvc-',
    netnsPrefix: 'vmpod-hostilecri-',
    cniName: 'vmhostcri',
    subnet: '10.88.99.0/24',
    imageTag: 'hostile',
    busyboxLinks: ['sleep', 'cp', 'chown', 'chmod', 'mknod', 'mkfifo', 'stat', 'readlink', 'mkdir', 'ln', 'id'],
  });
  const { dir, cfg, podConfig, run } = world;
  world.vmCfg.template = template;

  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('through a writable volume a guest makes no set-id file, device node or FIFO on the host; the guest sees what it made', async (t) => {
    const { client } = world.daemon();
    const vol = join(dir, 'hostile-volume');
    mkdirSync(vol, { mode: 0o755 });
    const hostFile = join(vol, 'from-host');
    writeFileSync(hostFile, 'host data\n');
    chmodSync(hostFile, 0o640);
    chownSync(hostFile, 1234, 1234);
    // What kubelet makes of an emptyDir with fsGroup 1234: group-owned, group-writable, setgid.
    const fsGroupVol = join(dir, 'fsgroup-volume');
    mkdirSync(fsGroupVol);
    chownSync(fsGroupVol, 0, 1234);
    chmodSync(fsGroupVol, 0o2777);

    const pod = podConfig('hostile');
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const cid = await run(podId, pod, 'attacker', ['sleep', '3600'], { mounts: [{ host_path: vol, container_path: '/data', readonly: false }] });
    const { status } = await client.runtime.ContainerStatus({ container_id: cid }, 30_000);
    const logFile = join(world.logDir, 'hostile', 'attacker.log');
    t.equal(status?.state, 'CONTAINER_RUNNING', `the container runs (its log: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : '(none)'})`);
    const sh = async (container: string, script: string) => {
      const r = await client.runtime.ExecSync({ container_id: container, cmd: ['sh', '-c', script], timeout: 120 }, 150_000);
      return { code: r.exit_code, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() };
    };

    const p = podPaths(cfg.state, podId);
    t.ok(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .some((l) => l.split(' ')[4] === join(p.volumes, 'c', cid, 'm', '0')),
      "the writable volume is bound into the pod's volume share",
    );

    const attack = await sh(
      cid,
      'cp /bin/busybox /data/sh && chown 0:0 /data/sh && chmod 4755 /data/sh && mknod /data/d b 8 0 && mkfifo /data/p && mkdir /data/sub && cp /bin/busybox /data/sub/g && chmod 2755 /data/sub/g && ln -s /etc/shadow /data/link',
    );
    t.same(attack, { code: 0, out: '', err: '' }, 'every step of the attack succeeds in the guest (it is root there)');

    const seen = await sh(cid, 'stat -c "%n %F %u:%g %a" /data/sh /data/d /data/p /data/sub/g /data/link /data/from-host; readlink /data/link; cat /data/from-host; /data/sh -c "echo runs"');
    t.equal(seen.code, 0, `the guest stats what it made (${seen.err})`);
    t.same(
      seen.out.split('\n'),
      [
        '/data/sh regular file 0:0 4755',
        '/data/d block special file 0:0 644',
        '/data/p fifo 0:0 644',
        '/data/sub/g regular file 0:0 2755',
        '/data/link symbolic link 0:0 777',
        '/data/from-host regular file 1234:1234 640',
        '/etc/shadow',
        'host data',
        'runs',
      ],
      'in the guest: the set-id files, the device node, the FIFO and the symlink are as the guest made them; the host file keeps its owner and mode',
    );

    const image = await sh(cid, 'stat -c "%F %a" /bin/sh && readlink /bin/sh && ls / >/dev/null && echo image-ok');
    t.same(image, { code: 0, out: 'symbolic link 777\nbusybox\nimage-ok', err: '' }, "the image's symlinks (the rootfs stays on the pod share) still resolve in the guest");

    const onHost = lstatWalk(vol);
    t.same(
      ['sh', 'd', 'p', 'sub', 'sub/g', 'link'].filter((n) => !onHost.some((e) => e.path === join(vol, n))),
      [],
      'the host sees an entry for everything the guest made',
    );
    t.same(
      onHost.filter((e) => e.mode & 0o6000),
      [],
      'no set-id file on the host',
    );
    t.same(
      onHost.filter((e) => !['file', 'dir'].includes(e.kind)),
      [],
      'no device node, FIFO or symlink on the host: only regular files and dirs',
    );
    t.match(lstatSync(hostFile), { uid: 1234, gid: 1234 }, "the host's own file keeps its owner on the host");
    t.equal(lstatSync(hostFile).mode & 0o7777, 0o640, 'and its mode');

    // A non-root container of the pod, in the emptyDir's fsGroup.
    const user = await run(podId, pod, 'fsgroup-user', ['sleep', '3600'], {
      mounts: [{ host_path: fsGroupVol, container_path: '/fs', readonly: false }],
      linux: { security_context: { run_as_user: { value: '1000' }, supplemental_groups: ['1234'] } },
    });
    const made = await sh(user, 'id -u && mkdir /fs/d && echo x >/fs/d/f && echo y >/fs/f && stat -c "%n %u:%g %a" /fs /fs/d /fs/d/f /fs/f && cat /fs/d/f');
    t.same(
      made,
      { code: 0, out: ['1000', '/fs 0:1234 2777', '/fs/d 1000:1234 2755', '/fs/d/f 1000:1234 644', '/fs/f 1000:1234 644', 'x'].join('\n'), err: '' },
      "in the guest, an fsGroup emptyDir behaves as on a local filesystem: new entries get the dir's group, a new dir the setgid bit, and the user writes in its own dir",
    );
    // On the host the host kernel decides: a dir made in a setgid dir inherits the group and the setgid bit (as kubelet
    // wants for fsGroup), a file only the group. Neither bit is the guest's doing, and no file is set-id.
    const fsOnHost = lstatWalk(fsGroupVol);
    // QEMU runs as the pod's own uid (hypervisor/qemu/jail.ts): the owner of what it creates.
    const sbInfo = JSON.parse((await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true })).info.info ?? '{}') as { pid: number };
    const qemuUid = Number(/^Uid:\s*(\d+)/m.exec(readFileSync(`/proc/${sbInfo.pid}/status`, 'utf8'))?.[1]);
    t.not(qemuUid, 0, "QEMU's uid is not root");
    t.same(
      fsOnHost.map((e) => [e.path.slice(fsGroupVol.length + 1), e.kind, e.uid, e.gid, e.mode]),
      [
        ['d', 'dir', qemuUid, 1234, 0o2700],
        ['d/f', 'file', qemuUid, 1234, 0o600],
        ['f', 'file', qemuUid, 1234, 0o600],
      ],
      "on the host they are QEMU's (its pod uid's), 0600 files and a 0700 dir, in the fsGroup: its members on the host cannot read them",
    );
    t.equal(lstatSync(fsGroupVol).mode & 0o7777, 0o2777, "kubelet's dir keeps its own mode on the host");

    await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
    const { items } = await client.runtime.ListPodSandbox({});
    t.same(items, [], 'no pod left');
    t.notOk(existsSync(p.dir), 'the pod dir, with both shares, is gone');
    t.ok(existsSync(join(vol, 'sh')) && existsSync(hostFile), "the volume's files outlive the pod");
  });
}
