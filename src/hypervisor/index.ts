// The daemon's entry to the hypervisor layer: one explicit factory, so the
// wiring names the implementation in one place, and everything a caller
// needs (types, the VM host probe, CIDs, host cost, typed errors) is
// exported here: nothing above this module imports qemu/.

import type { MicrovmConfig } from '../config/types';
import type { Logger } from '../log';
import type { Hypervisor } from './hypervisor';
import { QemuHypervisor } from './qemu';

export type { Hypervisor, VmHandle, VmEvent, VmExit, VmExitReason, VmHostStats, GuestMemoryStats, VmState, VmSize, StopOptions } from './hypervisor';
export type { VmConfig, VmJail, VmPlacement, AgentChannel, AccelKind, GuestBoot, RootfsImage, TapNetwork, VmDisk, VmFirmware, VmSocketConsole, VmShare } from './vm-config';
export type { VmDevice, VmDeviceKind, VmNetDevice, VmVsockDevice, VmBlockDevice, VmSerialPortDevice, TapSource } from './vm-device';
export { RUN_FILES, SHARED_MOUNT_TAG, VOLUME_MOUNT_TAG, AGENT_PORT_NAME, AGENT_VSOCK_PORT, GUEST_AGENT_PORT_NAME } from './vm-config';
export { OVMF_PATH, OVMF_PACKAGE } from './qemu/arch/x86_64';
export { CidAllocator, startWithFreeCid, isCidInUseError } from './vsock-cid';
export { QemuUidAllocator, DEFAULT_QEMU_UID_BASE, DEFAULT_QEMU_UID_COUNT } from './qemu-uid';
export { resolveVmHost, type VmHostSupport, type VmHostProbeOptions } from './host-support';
export { readVmHostStats } from './host-stats';
export { probeKvm, type AccelVerdict } from './qemu/accel';
export { MAX_UNIX_SOCKET_PATH, MAX_DISKS, MAX_SHARES } from './qemu/validate';
export { DeviceHotplugError, DEFAULT_UNPLUG_TIMEOUT_MS } from './qemu/hotplug';

export function createHypervisor(cfg: Pick<MicrovmConfig, 'qemu_binary'>, logger: Logger): Hypervisor {
  return new QemuHypervisor({ qemuBinary: cfg.qemu_binary, logger });
}
