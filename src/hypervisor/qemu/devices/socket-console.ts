import type { SocketConsoleDevice } from './types';
import { opts } from './opts';
import { CONSOLE_CHARDEV_ID, GUEST_END_PAUSES } from './serial-console';

/**
 * The guest's first serial port (ttyS0) as a listening unix socket: the
 * daemon connects for the output and writes the input (an interactive
 * console: CRI Attach). `wait=off`: QEMU starts without a client; with none
 * connected the UART's bytes are dropped, so a guest never blocks on a
 * console nobody reads, and QEMU holds no buffer that grows. One client at a
 * time; after it leaves QEMU listens again.
 *
 * The guest's end pauses QEMU as with the ring console (serial-console.ts):
 * the daemon quits it at once (there is no ring to drain), and a daemon
 * that was down finds the guest's end in the run state when it reattaches.
 */
export function socketConsoleArgs(d: SocketConsoleDevice): string[] {
  return [
    ...GUEST_END_PAUSES,
    '-chardev',
    opts('socket', [
      ['id', CONSOLE_CHARDEV_ID],
      ['path', d.socketPath],
      ['server', 'on'],
      ['wait', 'off'],
    ]),
    '-serial',
    `chardev:${CONSOLE_CHARDEV_ID}`,
  ];
}
