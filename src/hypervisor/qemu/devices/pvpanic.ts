import type { PvpanicDevice } from './types';

/**
 * The pvpanic ISA device lets a guest kernel (with pvpanic-mmio loaded) tell
 * QEMU it panicked: QEMU then emits GUEST_PANICKED and, with
 * `-action panic=shutdown`, exits instead of pausing the VM forever (the
 * default action). A guest without the driver still ends the VM, through
 * panic=1 and -no-reboot, only seen as a guest reset.
 */
export function pvpanicArgs(_d: PvpanicDevice): string[] {
  return ['-device', 'pvpanic', '-action', 'panic=shutdown'];
}
