// The QEMU configuration of a pod VM, one function for both ways a pod VM is
// started: cold for its pod (start.ts) and ahead of any pod for the pool
// (pool.ts). The pool's security rests on its VMs being launched exactly as
// a cold pod's VM is (same devices, jail, confinement), so both build it here.

import { cpus } from 'node:os';
import { join } from 'node:path';
import type { MicrovmConfig } from '../../config/types';
import type { VmConfig } from '../../hypervisor';
import type { AgentEndpoint } from './agent-connect';
import type { VmHostChoice } from './pod-vm';
import type { VmSize } from './sizing';

export interface PodVmLaunch {
  /** The pod id, or the pool VM's name until its hand-out. */
  id: string;
  runDir: string;
  host: VmHostChoice;
  microvm: Pick<MicrovmConfig, 'tcg_tb_size_mib' | 'free_page_reporting' | 'memory_merge'>;
  size: Pick<VmSize, 'vcpus' | 'memoryMib'>;
  /** The pod share and the volume share (podPaths). */
  sharedDir: string;
  volumeDir: string;
  /** The tap QEMU opens at launch; a pool VM has none (its NIC is hot-plugged at hand-out). */
  network?: { ifname: string; mac: string };
  /** The network namespace QEMU runs in. */
  netnsPath?: string;
  placement: NonNullable<VmConfig['placement']>;
  /** QEMU's own uid (hypervisor/qemu/jail.ts); absent: no jail (unit tests with a fake hypervisor). */
  uid?: number;
}

/** The VmConfig of a pod VM whose agent answers at `endpoint`. Pure but for the host's CPU count. */
export function podVmConfig(l: PodVmLaunch, endpoint: AgentEndpoint): VmConfig {
  const { guest, accel } = l.host;
  const parts = guest.manifest.parts;
  return {
    id: l.id,
    runDir: l.runDir,
    accel,
    vcpus: l.size.vcpus,
    memoryMib: l.size.memoryMib,
    ...(accel === 'tcg' && l.microvm.tcg_tb_size_mib > 0 ? { tcgTbSizeMib: l.microvm.tcg_tb_size_mib } : {}),
    freePageReporting: l.microvm.free_page_reporting,
    memoryMerge: l.microvm.memory_merge,
    // In-place resize (resize.ts): vCPUs up to the host's (as sizing caps them), RAM through virtio-mem over the maxmem headroom.
    resize: { maxVcpus: Math.max(l.size.vcpus, Math.min(cpus().length, 255)) },
    boot: {
      kernel: join(guest.dir, parts.vmlinux.file),
      initrd: join(guest.dir, parts.initramfs.file),
      params: guest.manifest.kernel.cmdline.split(/\s+/).filter((p) => p && !p.startsWith('console=') && !p.startsWith('panic=')),
    },
    rootfs: { path: join(guest.dir, parts.rootfs.file), sizeBytes: parts.rootfs.size },
    sharedDir: l.sharedDir,
    volumeDir: l.volumeDir,
    agent: endpoint.transport === 'vsock' ? { transport: 'vsock', cid: endpoint.cid } : { transport: 'serial', socketPath: endpoint.socketPath },
    ...(l.network ? { network: l.network } : {}),
    ...(l.netnsPath ? { netnsPath: l.netnsPath } : {}),
    placement: l.placement,
    // Its own uid in a mount namespace of this pod's files only (hypervisor/qemu/jail.ts).
    ...(l.uid !== undefined ? { jail: { uid: l.uid, gid: l.uid } } : {}),
  };
}
