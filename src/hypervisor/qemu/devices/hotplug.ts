import type { HotplugDevice } from './types';
import type { HotplugPlan } from './qmp-plan';
import { tapNetHotplug } from './tap-net';
import { vsockHotplug } from './vsock';
import { virtioBlkHotplug } from './virtio-blk';
import { virtioSerialPortHotplug } from './virtio-serial-port';

/** The QMP commands that add and remove one device. Pure. */
export function hotplugPlan(d: HotplugDevice): HotplugPlan {
  switch (d.kind) {
    case 'tap-net':
      return tapNetHotplug(d);
    case 'vsock':
      return vsockHotplug(d);
    case 'virtio-blk':
      return virtioBlkHotplug(d);
    case 'virtio-serial-port':
      return virtioSerialPortHotplug(d);
  }
}
