// Start-up recovery of what a machine crash mid-CreateContainer can leave:
// the create's first record is not fsynced (container-lifecycle.ts), so the
// rootfs lease written after it may outlive it. A lease no container record
// knows is released; a lease of a known container is left alone.

import t from 'tap';
import { podFixture } from './fixture';

const POD = 'a'.repeat(64);
const KNOWN = 'b'.repeat(64);
const ORPHAN = 'c'.repeat(64);

t.test('recover releases the rootfs leases no container record knows, and only those', async (t) => {
  const released: string[] = [];
  const { pods, addPod, addContainer, containers } = podFixture(t, {
    images: { rootfsHolders: () => [KNOWN, ORPHAN], releaseRootfs: async (id) => void released.push(id) },
  });
  addPod(POD);
  addContainer(KNOWN, POD, 'CONTAINER_RUNNING');
  const n = await pods.recover();
  t.same(released, [ORPHAN], 'the orphan lease released');
  t.equal(n, 1, 'counted as one interrupted create cleaned up');
  t.ok(containers.get(KNOWN), 'the known container is untouched');
});

t.test('a release that fails is logged and left for the next start; recovery goes on', async (t) => {
  const { pods } = podFixture(t, {
    images: {
      rootfsHolders: () => [ORPHAN],
      releaseRootfs: async () => {
        throw new Error('EBUSY');
      },
    },
  });
  t.equal(await pods.recover(), 0, 'nothing counted as cleaned');
});
