import type { PvpanicDevice } from './types';

/**
 * The pvpanic ISA device lets a guest kernel (with pvpanic-mmio loaded) tell
 * QEMU it panicked: QEMU then emits GUEST_PANICKED and, with
 * `-action panic=shutdown`, acts as on the guest's shutdown, which the
 * serial console's `shutdown=pause` turns into a pause: the daemon drains
 * the console ring (the panic text) and then quits QEMU (serial-console.ts).
 * A guest without the driver still ends the VM, through panic=1 and
 * -no-reboot, only seen as a guest reset (paused the same way).
 */
export function pvpanicArgs(_d: PvpanicDevice): string[] {
  return ['-device', 'pvpanic', '-action', 'panic=shutdown'];
}
