// What one vm-image handler needs from the host, for `vmpod check` and
// verbose Status: QEMU, qemu-img (the pod overlays), genisoimage (the
// cloud-init disks), OVMF when the handler boots UEFI, and (informational,
// the handler falls back to TCG) KVM.

import { existsSync } from 'node:fs';
import type { VmImageHandlerConfig } from '../../config/types';
import { binaryCapability, deviceCapability, type Capability } from '../../host/capabilities';
import { OVMF_PACKAGE, OVMF_PATH } from '../../hypervisor';
import type { HostCheckOptions, HostReport } from '../registry';

export async function checkVmImageHost(name: string, cfg: VmImageHandlerConfig, _opts: HostCheckOptions): Promise<HostReport> {
  const caps: Capability[] = [
    await binaryCapability('qemu', cfg.qemu_binary, ['--version'], 'qemu-system-x86', [name]),
    await binaryCapability('qemu-img', 'qemu-img', ['--version'], 'qemu-utils', [name]),
    await binaryCapability('genisoimage', 'genisoimage', ['--version'], 'genisoimage', [name]),
    deviceCapability('kvm', '/dev/kvm', 'load kvm_intel/kvm_amd or enable nested virtualisation; vm-image pods fall back to TCG (slow)', []),
  ];
  // Pods may ask for OVMF by annotation whatever the handler's default: needed only when it is the default.
  const neededBy = cfg.firmware === 'ovmf' ? [name] : [];
  caps.push(
    existsSync(OVMF_PATH)
      ? { name: 'ovmf', status: 'OK', detail: `${OVMF_PATH} present`, neededBy }
      : { name: 'ovmf', status: 'MISSING', detail: `${OVMF_PATH} does not exist: pods cannot boot UEFI disks`, fix: `apt-get install ${OVMF_PACKAGE}`, neededBy },
  );
  return { capabilities: caps, decisions: [`${name} firmware: ${cfg.firmware}, machine: ${cfg.machine} (config)`] };
}
