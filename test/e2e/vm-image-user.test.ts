// A VM pod's container user comes from the image's read-only layers (issue
// 15): by the time CreateContainer reads etc/passwd, the container's rootfs
// is bound into the guest-writable share, so the daemon reads the image's
// snapshot layers instead (test/integration/image-user-swap.test.ts swaps the
// file in the mount at that moment, on a runc pod). Here: one VM under TCG
// (in-process CRI server, the real microvm controller and QEMU), a container
// asking for run_as_username "nobody", which only the image's etc/passwd
// (65534) can resolve, and the rootfs is an overlay whose lowerdirs the mount
// table names (what the reader takes the layers from); the guest runs it as that uid. Then the pod is removed
// and no mount of it is left.

import t from 'tap';
import { join } from 'node:path';
import { mountedImageLayers } from '../../src/image/mounted-layers';
import { leftoverMounts } from '../helpers/daemon';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);

// One VM boot under TCG on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

if ('missing' in guest) {
  t.fail(`VM image-user e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'viu-',
    netnsPrefix: 'vmpod-imguser-',
    cniName: 'vmimguser',
    subnet: '10.88.97.0/24',
    imageTag: 'imguser',
    busyboxLinks: ['sleep', 'id'],
  });
  const { dir, cfg, podConfig, run } = world;

  t.before(() => world.start());
  t.teardown(() => world.teardown((s) => t.comment(s)));

  t.test("a VM pod's container user resolves from the image layers", async (t) => {
    const { client } = world.daemon();
    const pod = podConfig('imguser');
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const cid = await run(podId, pod, 'nobody', ['sleep', '3600'], { linux: { security_context: { run_as_username: 'nobody' } } });
    // What the daemon's reader takes the layers from: the kernel's record of this container's overlay.
    const layers = await mountedImageLayers(join(cfg.root, 'image', 'containers', cid, 'rootfs'));
    t.ok(
      layers && layers.length > 0 && layers.every((l) => l.startsWith(join(cfg.root, 'image', 'snapshots') + '/')),
      `the VM container's rootfs is an overlay of the image's snapshots, which the user is read from (${JSON.stringify(layers)})`,
    );
    const st = await client.runtime.ContainerStatus({ container_id: cid });
    t.match(st.status?.user?.linux, { uid: '65534', gid: '65534' }, "the user is the image's nobody (65534:65534)");
    const id = await client.runtime.ExecSync({ container_id: cid, cmd: ['id', '-u'], timeout: 60 }, 90_000);
    t.equal(id.stdout.toString().trim(), '65534', 'the guest runs the container as that uid');
    await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
    t.same(leftoverMounts(dir, cfg.state), [], 'no mount of the pod is left');
  });
}
