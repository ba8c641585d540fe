import type { VirtioSerialAgentDevice } from './types';
import { opts } from './opts';

/**
 * The agent channel where vsock is unavailable: one virtio-serial port whose
 * host end is a listening unix socket. `wait=off` so QEMU starts without a
 * client; the daemon connects (and reconnects after a restart) when it likes.
 */
export function virtioSerialAgentArgs(d: VirtioSerialAgentDevice): string[] {
  return [
    '-device',
    opts('virtio-serial-pci', [['id', 'ser0']]),
    '-chardev',
    opts('socket', [
      ['id', 'agent'],
      ['path', d.socketPath],
      ['server', 'on'],
      ['wait', 'off'],
    ]),
    '-device',
    opts('virtserialport', [
      ['bus', 'ser0.0'],
      ['chardev', 'agent'],
      ['name', d.portName],
    ]),
  ];
}
