import type { VirtioSerialAgentDevice, VirtioSerialControllerDevice } from './types';
import { opts } from './opts';

/** The virtio-serial controller of a VM with a serial agent channel; more ports can be hot-plugged on its bus. */
export const SERIAL_CONTROLLER_ID = 'ser0';
export const SERIAL_BUS = `${SERIAL_CONTROLLER_ID}.0`;

/**
 * The agent channel where vsock is unavailable: one virtio-serial port whose
 * host end is a listening unix socket. `wait=off` so QEMU starts without a
 * client; the daemon connects (and reconnects after a restart) when it likes.
 */
export function virtioSerialAgentArgs(d: VirtioSerialAgentDevice): string[] {
  return [
    ...virtioSerialControllerArgs({ kind: 'virtio-serial-controller', id: SERIAL_CONTROLLER_ID }),
    '-chardev',
    opts('socket', [
      ['id', 'agent'],
      ['path', d.socketPath],
      ['server', 'on'],
      ['wait', 'off'],
    ]),
    '-device',
    opts('virtserialport', [
      ['bus', SERIAL_BUS],
      ['chardev', 'agent'],
      ['name', d.portName],
    ]),
  ];
}

/** The controller alone (bus `<id>.0`), for the ports of a VM without the serial agent channel (the guest-agent port). */
export function virtioSerialControllerArgs(d: VirtioSerialControllerDevice): string[] {
  return ['-device', opts('virtio-serial-pci', [['id', d.id]])];
}
