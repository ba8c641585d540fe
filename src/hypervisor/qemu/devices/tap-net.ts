import { InvalidArgumentError } from '../../../../common/errors';
import type { TapNetDevice } from './types';
import { opts } from './opts';
import { command, deviceDel, type HotplugPlan, type PlugStep } from './qmp-plan';

/**
 * The pod's tap device (created by the network layer, wired to the CNI veth).
 * `script=no,downscript=no`: QEMU must not run helper scripts (and cannot,
 * under `-sandbox spawn=deny`).
 */
export function tapNetArgs(d: TapNetDevice): string[] {
  if (!('ifname' in d.tap)) throw new InvalidArgumentError(`device ${d.id}`, 'a tap fd can only be hot-plugged (QMP getfd); at launch QEMU opens the tap by name');
  const nic: Array<[string, string]> = [
    ['netdev', d.id],
    ['mac', d.mac],
  ];
  if (d.noRom) nic.push(['romfile', '']);
  return [
    '-netdev',
    opts('tap', [
      ['id', d.id],
      ['ifname', d.tap.ifname],
      ['script', 'no'],
      ['downscript', 'no'],
      ['vhost', d.vhost ? 'on' : 'off'],
    ]),
    '-device',
    opts('virtio-net-pci', nic),
  ];
}

/**
 * Hot-plug: the backend (netdev `<id>-tap`), then the NIC (`<id>`). A tap
 * by name is opened by QEMU in its own network namespace; a tap fd is
 * passed first (getfd `<id>-fd`) and the netdev takes it over. QEMU holds no
 * CAP_NET_ADMIN (launch.ts): a tap by name must be owned by the uid QEMU
 * runs as (network/tap.ts makes them so), or have no owner or group, which
 * the kernel lets anyone attach; an fd opened by the daemon needs neither.
 */
export function tapNetHotplug(d: TapNetDevice): HotplugPlan {
  const netdev = `${d.id}-tap`;
  const plug: PlugStep[] = [];
  let source: Record<string, unknown>;
  if ('fd' in d.tap) {
    const fdname = `${d.id}-fd`;
    // If netdev_add fails before it took the fd, QEMU would hold it until the VM ends.
    plug.push({ ...command('getfd', { fdname }), fd: d.tap.fd, undo: command('closefd', { fdname }) });
    source = { fd: fdname };
  } else {
    source = { ifname: d.tap.ifname, script: 'no', downscript: 'no' };
  }
  plug.push({ ...command('netdev_add', { type: 'tap', id: netdev, ...source, vhost: d.vhost }), undo: command('netdev_del', { id: netdev }) });
  plug.push(command('device_add', { driver: 'virtio-net-pci', id: d.id, netdev, mac: d.mac }));
  return { id: d.id, plug, unplug: [deviceDel(d.id), { ...command('netdev_del', { id: netdev }), goneClass: 'DeviceNotFound' }] };
}
