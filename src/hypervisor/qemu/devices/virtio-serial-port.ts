import type { VirtioSerialPortDevice } from './types';
import { opts } from './opts';
import { command, deviceDel, type HotplugPlan } from './qmp-plan';

function chardevId(d: VirtioSerialPortDevice): string {
  return `${d.id}-chr`;
}

/**
 * One more port on the VM's virtio-serial controller, its host end a
 * listening unix socket (`wait=off`: QEMU does not block for a client). A
 * pre-booted VM gets its pod's agent channel this way.
 */
export function virtioSerialPortArgs(d: VirtioSerialPortDevice): string[] {
  return [
    '-chardev',
    opts('socket', [
      ['id', chardevId(d)],
      ['path', d.socketPath],
      ['server', 'on'],
      ['wait', 'off'],
    ]),
    '-device',
    opts('virtserialport', [
      ['id', d.id],
      ['bus', d.bus],
      ['chardev', chardevId(d)],
      ['name', d.name],
    ]),
  ];
}

/** Hot-plug: chardev-add (QEMU binds the socket), then the port. */
export function virtioSerialPortHotplug(d: VirtioSerialPortDevice): HotplugPlan {
  const chardev = chardevId(d);
  return {
    id: d.id,
    plug: [
      {
        ...command('chardev-add', { id: chardev, backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: d.socketPath } }, server: true, wait: false } } }),
        undo: command('chardev-remove', { id: chardev }),
      },
      command('device_add', { driver: 'virtserialport', id: d.id, bus: d.bus, chardev, name: d.name }),
    ],
    unplug: [deviceDel(d.id), command('chardev-remove', { id: chardev })],
  };
}
