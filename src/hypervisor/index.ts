// The daemon's entry to the hypervisor layer: one explicit factory, so the
// wiring names the implementation in one place and nothing above this
// module imports qemu/.

import type { MicrovmConfig } from '../config/types';
import type { Logger } from '../log';
import type { Hypervisor } from './hypervisor';
import { QemuHypervisor } from './qemu';

export type { Hypervisor, VmHandle, VmEvent, VmExit, VmExitReason, VmHostStats, VmState, StopOptions } from './hypervisor';
export type { VmConfig, AgentChannel, AccelKind, GuestBoot, RootfsImage, TapNetwork } from './vm-config';
export { RUN_FILES, SHARED_MOUNT_TAG, AGENT_PORT_NAME, AGENT_VSOCK_PORT } from './vm-config';
export { CidAllocator } from './vsock-cid';
export { resolveVmHost, type VmHostSupport } from './host-support';

export function createHypervisor(cfg: Pick<MicrovmConfig, 'qemu_binary'>, logger: Logger): Hypervisor {
  return new QemuHypervisor({ qemuBinary: cfg.qemu_binary, logger });
}
