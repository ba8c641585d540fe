import type { Device } from './types';
import { nvdimmRootfsArgs } from './nvdimm-rootfs';
import { virtio9pArgs } from './virtio-9p';
import { vsockArgs } from './vsock';
import { virtioSerialAgentArgs } from './virtio-serial-agent';
import { tapNetArgs } from './tap-net';
import { qmpArgs } from './qmp';
import { serialConsoleArgs } from './serial-console';
import { pvpanicArgs } from './pvpanic';
import { virtioBalloonArgs } from './virtio-balloon';
import { virtioBlkArgs } from './virtio-blk';
import { virtioSerialPortArgs } from './virtio-serial-port';
import { fdDiskArgs } from './fd-disk';
import { socketConsoleArgs } from './socket-console';
import { virtioSerialControllerArgs } from './virtio-serial-agent';

export type { Device, DeviceKind, HotplugDevice } from './types';
export { hotplugPlan } from './hotplug';
export type { HotplugPlan, PlugStep, UnplugStep, QmpCommand } from './qmp-plan';

/** The argv fragment of one device. */
export function deviceArgs(d: Device): string[] {
  switch (d.kind) {
    case 'nvdimm-rootfs':
      return nvdimmRootfsArgs(d);
    case 'virtio-9p':
      return virtio9pArgs(d);
    case 'vsock':
      return vsockArgs(d);
    case 'virtio-serial-agent':
      return virtioSerialAgentArgs(d);
    case 'tap-net':
      return tapNetArgs(d);
    case 'virtio-blk':
      return virtioBlkArgs(d);
    case 'virtio-serial-port':
      return virtioSerialPortArgs(d);
    case 'fd-disk':
      return fdDiskArgs(d);
    case 'virtio-serial-controller':
      return virtioSerialControllerArgs(d);
    case 'qmp':
      return qmpArgs(d);
    case 'serial-console':
      return serialConsoleArgs(d);
    case 'socket-console':
      return socketConsoleArgs(d);
    case 'pvpanic':
      return pvpanicArgs(d);
    case 'virtio-balloon':
      return virtioBalloonArgs(d);
  }
}
