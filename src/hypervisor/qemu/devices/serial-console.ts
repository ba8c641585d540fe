import type { SerialConsoleDevice } from './types';
import { opts } from './opts';

/** The chardev id QMP's ringbuf-read names (console-ring.ts). */
export const CONSOLE_CHARDEV_ID = 'console';

/**
 * Bytes of guest console QEMU holds. A power of two (QEMU refuses others);
 * allocated once when QEMU starts, so it is all the host memory a guest
 * printing forever can take, whether or not the daemon is there to read.
 */
export const CONSOLE_RING_BYTES = 1024 * 1024;

/**
 * QEMU waits at the guest's end instead of exiting; the daemon quits it (see
 * below). A panic follows it too: pvpanic's `panic=shutdown` means "shut
 * down according to the shutdown action" (QAPI PanicAction), so it pauses.
 */
export const GUEST_END_PAUSES = ['-action', 'shutdown=pause'] as const;

/**
 * The guest's first serial port (ttyS0) into a ring QEMU itself bounds: it
 * keeps the newest CONSOLE_RING_BYTES and drops the oldest. The daemon, while
 * attached, drains it over QMP into `logPath` (console-ring.ts), which it
 * keeps capped; while the daemon is down nothing grows but this ring. The
 * file is the daemon's alone, so QEMU never holds a host file a guest fills.
 */
export function serialConsoleArgs(d: SerialConsoleDevice): string[] {
  void d.logPath; // written by the daemon, not QEMU
  return [
    // The ring dies with QEMU, so QEMU must not end before the daemon has
    // read its last lines (a kernel panic's, a failed boot's): a guest that
    // powers off, reboots (-no-reboot makes that a shutdown) or panics leaves
    // QEMU paused, and the daemon drains the ring and then quits it
    // (vm.ts, endAfterGuest). A daemon that is down does so when it reattaches.
    ...GUEST_END_PAUSES,
    '-chardev',
    opts('ringbuf', [
      ['id', CONSOLE_CHARDEV_ID],
      ['size', CONSOLE_RING_BYTES],
    ]),
    '-serial',
    `chardev:${CONSOLE_CHARDEV_ID}`,
  ];
}
