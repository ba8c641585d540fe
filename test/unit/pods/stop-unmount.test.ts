// StopContainer unmounts a stopped container's rootfs when its controller no
// longer uses it (rootfsUnusedAfterStop: runc), as containerd's shim does at
// task delete, so that RemoveContainer does not wait for the unmount; other
// controllers keep it mounted until removal.

import t from 'tap';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { ContainerProcessState } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const POD = 'a'.repeat(64);
const CTR = 'b'.repeat(64);

const exited: ContainerProcessState = { state: 'exited', exitCode: 137, finishedAt: '5', oomKilled: false };

const cases = [
  { desc: 'a running container, controller done with the rootfs after the stop', state: 'CONTAINER_RUNNING', unused: true, unmounted: [CTR] },
  { desc: 'an already exited container, controller done with the rootfs', state: 'CONTAINER_EXITED', unused: true, unmounted: [CTR] },
  { desc: 'a running container, controller still using the rootfs (a VM pod)', state: 'CONTAINER_RUNNING', unused: false, unmounted: [] },
] as const;

for (const c of cases) {
  t.test(c.desc, async (t) => {
    const unmounted: string[] = [];
    const released: string[] = [];
    const { h, addPod, addContainer, containers } = podFixture(t, {
      controller: { rootfsUnusedAfterStop: c.unused, containerState: async () => exited, stopContainer: async () => undefined, removeContainer: async () => undefined },
      images: { unmountRootfs: async (id) => void unmounted.push(id), releaseRootfs: async (id) => void released.push(id) },
    });
    addPod(POD);
    addContainer(CTR, POD, c.state);
    await h.StopContainer({ container_id: CTR, timeout: '0' }, ctx);
    t.same(unmounted, c.unmounted, 'rootfs unmounted by StopContainer or not');
    t.equal(containers.get(CTR)?.state, 'CONTAINER_EXITED', 'stopped');
    t.same(released, [], 'the rootfs (its writable layer) stays until removal');
    await h.RemoveContainer({ container_id: CTR }, ctx);
    t.same(released, [CTR], 'removal releases it');
  });
}

t.test('an unmount that fails does not fail the stop (removal unmounts again)', async (t) => {
  const { h, addPod, addContainer, containers } = podFixture(t, {
    controller: { rootfsUnusedAfterStop: true, containerState: async () => exited, stopContainer: async () => undefined },
    images: {
      unmountRootfs: async () => {
        throw new Error('umount: target is busy');
      },
    },
  });
  addPod(POD);
  addContainer(CTR, POD, 'CONTAINER_RUNNING');
  await t.resolves(h.StopContainer({ container_id: CTR, timeout: '0' }, ctx), 'StopContainer succeeds');
  t.equal(containers.get(CTR)?.state, 'CONTAINER_EXITED', 'and the container is stopped');
});
