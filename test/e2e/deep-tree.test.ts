// Deep-tree removal in both handlers (issue 16): a container builds a
// directory tree deeper than PATH_MAX (120 levels of 50-character names,
// 6,120 bytes and more, each level made with a relative `cd -P` + mkdir so that no
// single path the container uses is over the limit) in its writable rootfs,
// in the pod's /dev/shm and on a volume, plus several hundred files. Node's
// fs.rm walks by full path and fails with ENAMETOOLONG on such a tree, which
// once left the container and its pod impossible to remove. Then
// StopPodSandbox and RemovePodSandbox must succeed within their deadlines and
// nothing of the pod is left on disk: not the container's rootfs or writable
// layer (the paths its record names), nor any path under root or state named
// after the pod or the container. The volume is the caller's (kubelet's): the
// runtime leaves its content, and removeTree, the daemon's own remover,
// removes it afterwards. In the VM pod the tree is made by the guest over 9p,
// so the host-side files are QEMU's.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../../src/host/remove-tree';
import type { CriClient } from '../helpers/cri-client';
import { UNTRUSTED, VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';
import { walk } from '../fault/leaks';

const LEVELS = 120;
const NAME = 'd'.repeat(50);
/** Files beside the tree: in the rootfs (the writable layer) and on the volume. */
const ROOTFS_FILES = 600;
const VOLUME_FILES = 200;
/** The bound on StopPodSandbox and RemovePodSandbox: a deadline, so a remover that hangs fails the test. */
const REMOVE_MS = 120_000;

/** busybox sh: the trees and files, then "made". `cd -P`: ash's logical cd chdirs to the whole path it tracks, which passes PATH_MAX. */
const SCRIPT = `set -e
deep() { mkdir -p "$1"; cd "$1"; i=0; while [ $i -lt ${LEVELS} ]; do mkdir ${NAME}; cd -P ${NAME}; i=$((i+1)); done; echo leaf > leaf; }
files() { mkdir -p "$1"; cd "$1"; i=0; while [ $i -lt $2 ]; do echo $i > f$i; i=$((i+1)); done; }
(deep /deep)
(files /many ${ROOTFS_FILES})
(deep /dev/shm/deep)
(deep /vol/deep)
(files /vol/many ${VOLUME_FILES})
echo made`;

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc']]);

// One VM boot under TCG plus the trees over 9p on a loaded 2-core machine.
t.setTimeout(15 * 60_000);

if ('missing' in guest) {
  t.fail(`deep-tree e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'vdt-',
    netnsPrefix: 'vmpod-deeptree-net-',
    cniName: 'deeptree',
    subnet: '10.88.97.0/24',
    imageTag: 'deeptree',
    busyboxLinks: ['sleep', 'mkdir'],
  });
  let client: CriClient;
  const volumes: string[] = [];

  t.before(async () => {
    ({ client } = await world.start());
  });
  t.teardown(async () => {
    // world.teardown removes its dir with fs.rm, which a volume's deep tree would stop.
    for (const v of volumes) await removeTree(v);
    await world.teardown((s) => t.comment(s));
  });

  /** The one line `find` prints for the tree's leaf under `dir`, or '' when there is none. */
  const leafUnder = (dir: string): string => execFileSync('find', [dir, '-name', 'leaf'], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim();

  for (const kind of ['runc', 'vm'] as const) {
    t.test(`${kind} pod: a tree deeper than PATH_MAX in the rootfs, /dev/shm and a volume does not stop its removal`, async (t) => {
      const pod = world.podConfig(`deep-${kind}`, kind === 'vm' ? UNTRUSTED : {});
      const vol = join(world.dir, `vol-${kind}`);
      mkdirSync(vol);
      volumes.push(vol);
      const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
      const ctr = await world.run(podId, pod, 'maker', ['sleep', '3600'], { mounts: [{ container_path: '/vol', host_path: vol }] });
      const made = await client.runtime.ExecSync({ container_id: ctr, cmd: ['/bin/sh', '-c', SCRIPT], timeout: 600 }, 660_000);
      t.same([made.exit_code, Buffer.from(made.stdout).toString(), Buffer.from(made.stderr).toString()], [0, 'made\n', ''], 'the container made its trees');

      // The paths the daemon used for the container, from its record.
      const rec = JSON.parse(readFileSync(join(world.cfg.root, 'containers', `${ctr}.json`), 'utf8')) as { rootfs: string; upperDir: string };
      const deepLeaf = leafUnder(join(rec.upperDir, 'deep'));
      t.ok(deepLeaf.length > 4096, `the writable layer holds the tree, its leaf ${deepLeaf.length} bytes deep`);
      t.ok(leafUnder(join(vol, 'deep')).length > 4096, 'so does the volume');

      await client.runtime.StopPodSandbox({ pod_sandbox_id: podId }, REMOVE_MS);
      await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, REMOVE_MS);
      t.same(
        (await client.runtime.ListPodSandbox({})).items.map((p) => p.id).filter((id) => id === podId),
        [],
        'the pod is removed',
      );
      t.same(
        [rec.upperDir, rec.rootfs].filter((p) => existsSync(p)),
        [],
        "the container's writable layer and rootfs are gone",
      );
      const left = [...walk(world.cfg.root, 8), ...walk(world.cfg.state, 8)].filter((p) => p.includes(podId) || p.includes(ctr));
      t.same(left, [], 'nothing under root or state is named after the pod or the container');
      t.ok(leafUnder(join(vol, 'deep')).length > 4096, "the volume's content is its owner's: left as it was");
    });
  }
}
