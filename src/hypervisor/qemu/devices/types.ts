// Every device vmpod attaches to a VM, as one discriminated union. Each kind
// has its own module producing its argv (and, for the kinds that can be
// hot-plugged, its QMP plan); `deviceArgs` and `hotplugPlan` dispatch
// exhaustively so a new kind cannot be forgotten.

import type { TapSource } from '../../vm-device';

export interface NvdimmRootfsDevice {
  kind: 'nvdimm-rootfs';
  id: string;
  imagePath: string;
  sizeBytes: number;
}

/** QEMU's 9p security models this project serves directories with (virtio-9p.ts says what each does). */
export type NinePSecurityModel = 'none' | 'mapped-xattr';

export interface Virtio9pDevice {
  kind: 'virtio-9p';
  id: string;
  path: string;
  mountTag: string;
  /** Absent: the pod share's model (POD_SHARE_SECURITY_MODEL). */
  securityModel?: NinePSecurityModel;
}

export interface VsockDevice {
  kind: 'vsock';
  id: string;
  cid: number;
}

export interface VirtioSerialAgentDevice {
  kind: 'virtio-serial-agent';
  socketPath: string;
  portName: string;
}

export interface TapNetDevice {
  kind: 'tap-net';
  id: string;
  /** At launch only by name; a tap fd only through hot-plug. */
  tap: TapSource;
  mac: string;
  /** vhost-net offload; only meaningful (and only allowed) with kvm. */
  vhost: boolean;
}

export interface VirtioBlkDevice {
  kind: 'virtio-blk';
  id: string;
  path: string;
  format: 'raw' | 'qcow2';
  readOnly: boolean;
}

export interface VirtioSerialPortDevice {
  kind: 'virtio-serial-port';
  id: string;
  socketPath: string;
  name: string;
  /** The virtio-serial controller's bus, e.g. `ser0.0`. */
  bus: string;
}

export interface QmpDevice {
  kind: 'qmp';
  socketPath: string;
}

export interface SerialConsoleDevice {
  kind: 'serial-console';
  logPath: string;
}

export interface PvpanicDevice {
  kind: 'pvpanic';
}

export interface VirtioBalloonDevice {
  kind: 'virtio-balloon';
  id: string;
  /** The guest reports freed RAM and QEMU gives it back to the host (virtio-balloon.ts). */
  freePageReporting: boolean;
}

export type Device =
  | NvdimmRootfsDevice
  | Virtio9pDevice
  | VsockDevice
  | VirtioSerialAgentDevice
  | TapNetDevice
  | VirtioBlkDevice
  | VirtioSerialPortDevice
  | QmpDevice
  | SerialConsoleDevice
  | PvpanicDevice
  | VirtioBalloonDevice;

export type DeviceKind = Device['kind'];

/** The kinds that can be added to and removed from a running VM. */
export type HotplugDevice = TapNetDevice | VsockDevice | VirtioBlkDevice | VirtioSerialPortDevice;
