import type { VsockDevice } from './types';
import { opts } from './opts';
import { command, deviceDel, type HotplugPlan } from './qmp-plan';

/** vhost-vsock: the guest gets `cid`; needs /dev/vhost-vsock on the host. */
export function vsockArgs(d: VsockDevice): string[] {
  return [
    '-device',
    opts('vhost-vsock-pci', [
      ['id', d.id],
      ['guest-cid', d.cid],
    ]),
  ];
}

/** Hot-plug: one device, no backend (QEMU opens /dev/vhost-vsock itself, and fails the device_add without it). */
export function vsockHotplug(d: VsockDevice): HotplugPlan {
  return { id: d.id, plug: [command('device_add', { driver: 'vhost-vsock-pci', id: d.id, 'guest-cid': d.cid })], unplug: [deviceDel(d.id)] };
}
