// A VM-image pod on the host before and after its VM: RunPodSandbox makes
// the pod dir, QEMU's uid, the tap in the pod netns (owned by that uid, with
// the pod's MAC) and the VM's cgroup; no VM yet, since the disk comes with
// the container. StopPodSandbox takes the tap away; RemovePodSandbox removes
// the rest. Each step of the start is undone if a later one fails, and the
// removal is idempotent and works from the pod id alone (a create cut short
// by a daemon crash has no record of what it made).

import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { VmImageConfig } from '../../config/types';
import { removeVmCgroup, vmCgroupLimits } from '../../host/vm-cgroup';
import type { AccelKind, Hypervisor, QemuUidAllocator } from '../../hypervisor';
import type { Logger } from '../../log';
import { detachTap, DEFAULT_TAP_NAME } from '../../network';
import type { SandboxCreateInput } from '../controller';
import { removeVmRunDir } from '../microvm/run-dir';
import { vmSize } from '../microvm/sizing';
import { Steps, type PhaseObserver } from '../steps';
import { qemuUidAndTap, readVmCgroupRecord, vmCgroupStep } from '../vm-pod-host';
import { VMI_DATA_VERSION, type VmImagePodData } from './data';
import { containerRunPaths, readPodContainers, vmImagePodPaths } from './layout';

export interface VmImageEnv {
  state: string;
  cfg: VmImageConfig;
  hypervisor: Hypervisor;
  /** Resolved once per controller: kvm or tcg. */
  accel(): Promise<AccelKind>;
  /** Absent: QEMU runs as root without a jail (unit tests with a fake hypervisor). */
  uids?: QemuUidAllocator;
  phases?: PhaseObserver;
}

export async function createVmImagePod(env: VmImageEnv, input: SandboxCreateInput): Promise<VmImagePodData> {
  const { id } = input;
  const log = input.log.child({ subsystem: 'vm-image' });
  const paths = vmImagePodPaths(env.state, id);
  const steps = new Steps(`VM-image pod ${id} start`, log, { phases: env.phases && { operation: 'VM-image pod start', observer: env.phases } });
  const accel = await env.accel();
  // The VM's size from the handler and the pod's limits (kubelet sends the sum of the one container's);
  // the container's own limits may still set it at CreateContainer.
  const size = vmSize({
    baseVcpus: env.cfg.vcpus,
    baseMemoryMib: env.cfg.memory_mib,
    resources: input.config.linux?.resources ?? null,
    hostCpus: cpus().length,
    hostMemoryMib: Math.floor(totalmem() / (1024 * 1024)),
  });
  await steps.run(
    'pod-dir',
    async () => {
      await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    },
    () => rm(paths.dir, { recursive: true, force: true }),
  );
  const { uid, net } = await qemuUidAndTap(steps, { podId: id, uids: env.uids, uidBase: env.cfg.qemu_uid_base, uidCount: env.cfg.qemu_uid_count, netnsPath: input.netnsPath });
  const limits = vmCgroupLimits({ resources: input.config.linux?.resources, overhead: input.config.linux?.overhead, guestMemoryMib: size.memoryMib, accel });
  const cg = await vmCgroupStep(steps, { podId: id, podDir: paths.dir, cgroupParent: input.config.linux?.cgroup_parent ?? '', limits });
  log.info({ cgroup: cg.paths.leaf, limits }, 'VM cgroup made');
  steps.done({ accel, size: size.explain });
  return {
    v: VMI_DATA_VERSION,
    netnsPath: input.netnsPath,
    ...(net ? { network: { tapName: net.tapName, mac: net.mac, mtu: net.mtu, addresses: net.addresses, routes: net.routes } } : {}),
    ...(uid !== undefined ? { qemuUid: uid } : {}),
    accel,
    vcpus: size.vcpus,
    memoryMib: size.memoryMib,
  };
}

/** StopPodSandbox after the VM is gone: the tap goes (the netns goes with the network layer right after). Idempotent. */
export async function stopVmImagePod(env: VmImageEnv, podId: string, netnsPath: string, log: Logger): Promise<void> {
  const paths = vmImagePodPaths(env.state, podId);
  if (netnsPath && existsSync(netnsPath)) {
    await detachTap({ netns: netnsPath, tapName: DEFAULT_TAP_NAME }).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'tap removal failed'));
  }
  if (existsSync(paths.dir)) await writeFile(paths.stoppedMark, '', { mode: 0o600 });
}

/**
 * Everything of the pod on the host, from its id alone: every container's
 * VM (killed if it still runs) and run dir, QEMU's uid, the cgroup, the pod
 * dir with the overlay and cidata. Idempotent.
 */
export async function removeVmImagePod(env: VmImageEnv, podId: string, log: Logger): Promise<void> {
  const paths = vmImagePodPaths(env.state, podId);
  for (const cid of await readPodContainers(paths)) await removeVmRunDir(env.hypervisor, containerRunPaths(env.state, cid));
  env.uids?.release(podId);
  // After every VM is gone (a cgroup with a process cannot go), before the record of it goes with the pod dir.
  await removeVmCgroup(await readVmCgroupRecord(paths.dir));
  await rm(paths.dir, { recursive: true, force: true });
  log.info('VM-image pod files removed');
}
