import type { TapNetDevice } from './types';
import { opts } from './opts';

/**
 * The pod's tap device (created by the network layer, wired to the CNI veth).
 * `script=no,downscript=no`: QEMU must not run helper scripts (and cannot,
 * under `-sandbox spawn=deny`).
 */
export function tapNetArgs(d: TapNetDevice): string[] {
  return [
    '-netdev',
    opts('tap', [
      ['id', d.id],
      ['ifname', d.ifname],
      ['script', 'no'],
      ['downscript', 'no'],
      ['vhost', d.vhost ? 'on' : 'off'],
    ]),
    '-device',
    opts('virtio-net-pci', [
      ['netdev', d.id],
      ['mac', d.mac],
    ]),
  ];
}
