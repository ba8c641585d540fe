// What QEMU's QMP events mean for a VM pod, and why a VM ended: pure
// translations the QemuVm handle (vm.ts) applies to its event stream.

import type { VmEvent, VmExitReason } from '../hypervisor';
import type { QmpEvent } from './qmp';

/** QMP event → VmEvent; undefined for events vmpod does not act on. Pure. */
export function toVmEvent(e: QmpEvent): VmEvent | undefined {
  const d = e.data;
  switch (e.event) {
    case 'SHUTDOWN':
      return { type: 'shutdown', guestInitiated: d.guest === true, reason: typeof d.reason === 'string' ? d.reason : 'unknown' };
    case 'GUEST_PANICKED':
      return { type: 'guest-panicked', detail: typeof d.action === 'string' ? d.action : '' };
    case 'POWERDOWN':
      return { type: 'powerdown' };
    case 'RESET':
      return { type: 'reset', guestInitiated: d.guest === true };
    case 'STOP':
      return { type: 'stop' };
    default:
      return undefined;
  }
}

/** The exit reason implied by the last significant event before the process ended. Pure. */
export function exitReason(last: VmEvent | undefined, signal: string | null): VmExitReason {
  if (last?.type === 'guest-panicked') return 'guest-panicked';
  if (last?.type === 'shutdown') {
    if (last.reason === 'guest-panic') return 'guest-panicked';
    if (last.reason === 'guest-reset') return 'guest-reset';
    if (last.guestInitiated) return 'guest-shutdown';
    return 'host-quit';
  }
  if (signal === 'SIGKILL' || signal === 'SIGTERM') return 'killed';
  return 'unknown';
}

/** A guest's own end, after which QEMU waits paused for us (devices/serial-console.ts). Pure. */
export function isGuestEnd(ev: VmEvent): boolean {
  return ev.type === 'guest-panicked' || (ev.type === 'shutdown' && ev.guestInitiated);
}

/** The event a paused QEMU's run state stands for, when the guest's end came before we attached. Pure. */
export function guestEndFromStatus(status: string): VmEvent | undefined {
  if (status === 'guest-panicked') return { type: 'guest-panicked', detail: 'pause' };
  if (status === 'shutdown') return { type: 'shutdown', guestInitiated: true, reason: 'unknown' };
  return undefined;
}
