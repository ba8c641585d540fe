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
  // One boot probe per check: both the kvm line and the accel decision read it.
  let kvm: ReturnType<typeof probeKvm> | undefined;
  const probe = () => (kvm ??= probeKvm({ qemuBinary: cfg.microvm.qemu_binary, kernel: kernelPath() }));
  return {
    guestImage: () => guestImageProbe(guestDir),
    decisions: async () => {
      const auto = cfg.microvm.accel === 'auto' ? await probe() : undefined;
      const host = await resolveVmHost({ ...cfg.microvm, accel: auto?.accel ?? cfg.microvm.accel });
      const accel = auto ?? host.accel;
      return [
        `microvm accel: ${accel.accel} (${accel.reason}; config accel = "${cfg.microvm.accel}")`,
        `microvm agent transport: ${host.agentTransport.transport} (${host.agentTransport.reason}; config agent_transport = "${cfg.microvm.agent_transport}")`,
      ];
    },
    kvmBoots: async () => {
      const verdict = await probe();
      return { ok: verdict.accel === 'kvm', detail: verdict.reason };
    },
  };
}

/** The cheap subset, for verbose Status (no VM is started on a Status call). */
export function cheapHostProbes(cfg: VmpodConfig): ExtraProbes {
  return { guestImage: () => guestImageProbe(cfg.microvm.guest_dir || undefined) };
}
