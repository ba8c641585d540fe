// What every VM pod needs on the host before its QEMU, whatever boots in it
// (vmpod's guest or an image's disk): QEMU's own uid, the tap QEMU opens,
// and the VM's cgroup with a record of it. Each is an undoable step of the
// caller's start, and the record lets removal find the cgroup from the pod
// id alone (its dirs depend on the sandbox config, which a create cut short
// by a crash may not have recorded).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupVersion } from '../host/facts';
import { createVmCgroup, removeVmCgroup, vmCgroupPaths, type VmCgroup, type VmCgroupLimits } from '../host/vm-cgroup';
import type { QemuUidAllocator } from '../hypervisor';
import { attachTap, detachTap, DEFAULT_TAP_NAME, type GuestNetwork } from '../network';
import type { ParallelStep, Steps } from './steps';

export interface QemuUidAndTapInput {
  podId: string;
  /** Absent: QEMU runs as root without a jail (unit tests with a fake hypervisor). */
  uids: QemuUidAllocator | undefined;
  uidBase: number;
  uidCount: number;
  /** The pinned pod netns; '' for a pod without one (no tap). */
  netnsPath: string;
}

/**
 * QEMU's uid (per pod: hypervisor/qemu-uid.ts), then the tap in the pod
 * netns, owned by that uid so that the jailed QEMU can open it, with the CNI
 * interface's MAC, which the guest NIC must use.
 */
export async function qemuUidAndTap(steps: Steps, i: QemuUidAndTapInput): Promise<{ uid: number | undefined; net: GuestNetwork | undefined }> {
  const uid = await qemuUidStep(steps, i);
  const tap = i.netnsPath ? tapStep(i.netnsPath, uid) : undefined;
  const net = tap ? await steps.run(tap.name, tap.run, tap.rollback) : undefined;
  return { uid, net };
}

/** QEMU's uid for the pod (hypervisor/qemu-uid.ts), released on rollback; undefined without an allocator. */
export async function qemuUidStep(steps: Steps, i: Omit<QemuUidAndTapInput, 'netnsPath'>): Promise<number | undefined> {
  const uids = i.uids;
  if (!uids) return undefined;
  return steps.run(
    'qemu-uid',
    async () => uids.allocate(i.podId, i.uidBase, i.uidCount),
    async () => uids.release(i.podId),
  );
}

/**
 * The tap in the pod netns `netnsPath`, owned by QEMU's `uid`, as a step
 * (Steps.all runs it beside others); `ready` is awaited first (the pod's
 * CNI ADD: the tap is wired to its veth).
 */
export function tapStep(netnsPath: string, uid: number | undefined, ready?: Promise<unknown>): ParallelStep<GuestNetwork> {
  return {
    name: 'network-setup',
    run: async () => {
      await ready;
      return attachTap({ netns: netnsPath, tapName: DEFAULT_TAP_NAME, ownerUid: uid });
    },
    rollback: () => detachTap({ netns: netnsPath, tapName: DEFAULT_TAP_NAME }),
  };
}

/** In the pod's host-only dir: the VM's cgroup dirs (host/vm-cgroup.ts). */
export const VM_CGROUP_RECORD = 'vm-cgroup.json';

export async function writeVmCgroupRecord(podDir: string, dirs: readonly string[]): Promise<void> {
  await writeFile(join(podDir, VM_CGROUP_RECORD), JSON.stringify({ v: 1, dirs }), { mode: 0o600 });
}

/** The recorded cgroup dirs; none when the pod had none (started before cgroups, or failed before). Only dirs under /sys/fs/cgroup are taken. */
export async function readVmCgroupRecord(podDir: string): Promise<string[]> {
  const text = await readFile(join(podDir, VM_CGROUP_RECORD), 'utf8').catch(() => '');
  if (!text) return [];
  try {
    const rec = JSON.parse(text) as { dirs?: unknown };
    return Array.isArray(rec.dirs) ? rec.dirs.filter((d): d is string => typeof d === 'string' && d.startsWith('/sys/fs/cgroup/') && !d.includes('/../')) : [];
  } catch {
    return [];
  }
}

export interface VmCgroupInput {
  podId: string;
  podDir: string;
  cgroupParent: string;
  limits: VmCgroupLimits;
}

/** The VM's cgroup under kubelet's cgroup_parent, with its limits, recorded in the pod dir; undone by removing it. */
export function vmCgroupStep(steps: Steps, i: VmCgroupInput): Promise<VmCgroup> {
  const s = vmCgroupParallelStep(i);
  return steps.run(s.name, s.run, s.rollback);
}

/** vmCgroupStep as a step of Steps.all (the pod dir must exist: the record goes there). */
export function vmCgroupParallelStep(i: VmCgroupInput): ParallelStep<VmCgroup> {
  return {
    name: 'vm-cgroup',
    run: async () => {
      const cg = await createVmCgroup(vmCgroupPaths(i.cgroupParent, i.podId), i.limits, cgroupVersion());
      await writeVmCgroupRecord(i.podDir, cg.dirs).catch(async (err: unknown) => {
        await removeVmCgroup(cg.dirs).catch(() => undefined);
        throw err;
      });
      return cg;
    },
    rollback: (cg) => removeVmCgroup(cg.dirs),
  };
}
