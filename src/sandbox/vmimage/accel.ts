// Which accelerator VM-image VMs get: kvm only where it really boots a
// guest (the nested KVM of some hosts runs firmware but no kernel), decided
// by the microvm handlers' probe, which boots a kernel under kvm and
// watches it get through early boot.

import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import type { VmImageConfig } from '../../config/types';
import { findGuestImage } from '../../host/guest-image';
import { resolveVmHost, type AccelKind } from '../../hypervisor';
import type { Logger } from '../../log';

/**
 * The probe's kernel is vmpod's own guest kernel when it is built, else the
 * host's own (/boot/vmlinuz-<release>); with neither there is nothing to
 * prove kvm with, and TCG is chosen. The verdict is cached under
 * <root>/microvm as the microvm handlers' is, and logged.
 */
export async function resolveVmImageAccel(handler: string, cfg: VmImageConfig, root: string, log: Logger): Promise<AccelKind> {
  const found = findGuestImage('');
  const hostKernel = `/boot/vmlinuz-${release()}`;
  const kernel = !('missing' in found) ? join(found.dir, found.manifest.parts.vmlinux.file) : existsSync(hostKernel) ? hostKernel : undefined;
  const support = await resolveVmHost(
    { accel: cfg.accel, qemu_binary: cfg.qemu_binary, agent_transport: 'serial' },
    { kernel, cacheFile: join(root, 'microvm', 'accel.json'), logger: log, configKey: `runtime.handlers.${handler}` },
  );
  log.info({ accel: support.accel.accel, reason: support.accel.reason, configured: cfg.accel, probeKernel: kernel ?? null }, 'VM-image accelerator chosen');
  return support.accel.accel;
}
