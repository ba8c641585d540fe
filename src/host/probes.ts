import type { VmpodConfig } from '../config/types';
import { resolveVmHost } from '../hypervisor/host-support';
import { probeKvm } from '../hypervisor/qemu/accel';
import type { ExtraProbes } from './capabilities';
import { findGuestImage, guestImageProbe, guestPartPath } from './guest-image';

/**
 * The probes `vmpod check` adds on top of the cheap ones: which guest image
 * the config points at, and whether KVM really boots that guest's kernel
 * here (a nested paravirtual KVM may expose /dev/kvm yet fail to boot one).
 */
export function hostProbes(cfg: VmpodConfig): ExtraProbes {
  const guestDir = cfg.microvm.guest_dir || undefined;
  const kernelPath = (): string | undefined => {
    const img = findGuestImage(guestDir);
    return 'missing' in img ? undefined : guestPartPath(img, 'vmlinux');
  };
  return {
    guestImage: () => guestImageProbe(guestDir),
    decisions: async () => {
      const host = await resolveVmHost(cfg.microvm, { kernel: kernelPath() });
      return [
        `microvm accel: ${host.accel.accel} (${host.accel.reason}; config accel = "${cfg.microvm.accel}")`,
        `microvm agent transport: ${host.agentTransport.transport} (${host.agentTransport.reason}; config agent_transport = "${cfg.microvm.agent_transport}")`,
      ];
    },
    kvmBoots: async () => {
      const kernel = kernelPath();
      const verdict = await probeKvm({ qemuBinary: cfg.microvm.qemu_binary, kernel });
      return { ok: verdict.accel === 'kvm', detail: verdict.reason };
    },
  };
}

/** The cheap subset, for verbose Status (no VM is started on a Status call). */
export function cheapHostProbes(cfg: VmpodConfig): ExtraProbes {
  return { guestImage: () => guestImageProbe(cfg.microvm.guest_dir || undefined) };
}
