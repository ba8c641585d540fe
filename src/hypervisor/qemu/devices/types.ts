// Every device vmpod attaches to a VM, as one discriminated union. Each kind
// has its own module producing its argv; `deviceArgs` dispatches exhaustively
// so a new kind cannot be forgotten.

export interface NvdimmRootfsDevice {
  kind: 'nvdimm-rootfs';
  id: string;
  imagePath: string;
  sizeBytes: number;
}

export interface Virtio9pDevice {
  kind: 'virtio-9p';
  id: string;
  path: string;
  mountTag: string;
}

export interface VsockDevice {
  kind: 'vsock';
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
  ifname: string;
  mac: string;
  /** vhost-net offload; only meaningful (and only allowed) with kvm. */
  vhost: boolean;
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

export type Device =
  | NvdimmRootfsDevice
  | Virtio9pDevice
  | VsockDevice
  | VirtioSerialAgentDevice
  | TapNetDevice
  | QmpDevice
  | SerialConsoleDevice
  | PvpanicDevice;

export type DeviceKind = Device['kind'];
