// An image volume (KEP-4639, CRI Mount.image) in a VM pod: the host mounts
// the image's read-only view and the pod domain hands it to the VM
// controller as an ordinary read-only bind, which reaches the guest through
// the pod's read-only 9p export. One VM under TCG (in-process CRI server,
// the real microvm controller and QEMU): the image's files are readable in
// the guest container at the mount and at an image_sub_path, writes fail
// with EROFS, RemoveImage is refused while the container holds the image,
// and once the pod is removed no mount is left and the image can go.
// The image mounted is the test's busybox image itself (the only one the
// shared e2e world pushes); its etc/passwd is the file read.

import t from 'tap';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { leftoverMounts } from '../helpers/daemon';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);

// One VM boot under TCG on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

if ('missing' in guest) {
  t.fail(`VM image-volume e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'viv-',
    netnsPrefix: 'vmpod-imgvol-',
    cniName: 'vmimgvol',
    subnet: '10.88.86.0/24',
    imageTag: 'imgvol',
    busyboxLinks: ['sleep', 'grep'],
  });
  const { dir, cfg, podConfig, containerConfig, run } = world;

  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test('an image volume is readable and read-only in a VM pod', async (t) => {
    const { client } = world.daemon();
    const image = containerConfig('x', []).image!.image!;
    const pod = podConfig('imgvol');
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const cid = await run(podId, pod, 'reader', ['sleep', '3600'], {
      mounts: [
        { container_path: '/vol', image: { image }, readonly: true },
        { container_path: '/sub', image: { image }, image_sub_path: 'etc', readonly: true },
      ],
    });
    const sh = async (script: string) => {
      const r = await client.runtime.ExecSync({ container_id: cid, cmd: ['/bin/sh', '-c', script], timeout: 60 }, 90_000);
      return { code: r.exit_code, out: r.stdout.toString(), err: r.stderr.toString() };
    };
    const passwd = await sh('cat /vol/etc/passwd');
    t.match(passwd, { code: 0, out: /^root:x:0:0:root:/ }, "the image's etc/passwd is readable at the mount in the guest");
    t.same(await sh('cat /sub/passwd'), passwd, 'and at the image_sub_path mount');
    for (const p of ['/vol/new', '/vol/etc/passwd', '/sub/passwd']) {
      const w = await sh(`echo x >> ${p}`);
      t.not(w.code, 0, `write to ${p} fails in the guest`);
      t.match(w.err, /Read-only file system/, `write to ${p}: EROFS`);
    }
    t.same((await sh('cat /vol/etc/passwd')).out, passwd.out, 'the file is unchanged');

    await t.rejects(
      client.image.RemoveImage({ image: { image } }),
      { code: GrpcStatus.FAILED_PRECONDITION, details: new RegExp(`mounted as an image volume by container ${cid}`) },
      'RemoveImage refused while the VM container holds it',
    );
    await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
    t.same(leftoverMounts(dir, cfg.state), [], 'no mount of the pod or its image volumes is left');
    await client.image.RemoveImage({ image: { image } });
    t.notOk((await client.image.ImageStatus({ image: { image } })).image, 'RemoveImage allowed once the container is gone');
  });
}
