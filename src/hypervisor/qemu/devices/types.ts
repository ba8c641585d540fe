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
  /** QEMU refuses every write (fsdev readonly=on). */
  readOnly?: boolean;
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
  /** No option ROM (iPXE): a VM-image VM's firmware must never boot from the pod network. */
  noRom?: boolean;
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

/** One image file QEMU gets as an fd in an fdset (`-add-fd`), never by path. */
export interface FdsetFile {
  /** The fdset the file is in: QEMU opens it as /dev/fdset/<set>. */
  set: number;
  /** The file's fd number in QEMU's process at exec. */
  fd: number;
  format: 'raw' | 'qcow2';
  /** A host block device (QEMU's `host_device` protocol driver) rather than a regular file; known once the daemon opened it. */
  blockDevice?: boolean;
}

export interface FdDiskDevice {
  kind: 'fd-disk';
  /** VmDisk.id: the virtio-blk serial; QEMU's own ids are derived from it (fd-disk.ts). */
  id: string;
  image: FdsetFile;
  readOnly: boolean;
  /** The overlay's backing image (read-only); absent: a qcow2 image gets no backing at all. */
  backing?: FdsetFile;
  bootIndex?: number;
}

/** A virtio-serial controller on its own, for ports of a VM without the serial agent channel (which brings one). */
export interface VirtioSerialControllerDevice {
  kind: 'virtio-serial-controller';
  id: string;
}

export interface QmpDevice {
  kind: 'qmp';
  socketPath: string;
}

export interface SerialConsoleDevice {
  kind: 'serial-console';
  logPath: string;
}

/** ttyS0 as a listening unix socket (an interactive console). */
export interface SocketConsoleDevice {
  kind: 'socket-console';
  socketPath: string;
}

export interface PvpanicDevice {
  kind: 'pvpanic';
}

export interface VirtioBalloonDevice {
  kind: 'virtio-balloon';
  id: string;
  /** The guest reports freed RAM and QEMU gives it back to the host (virtio-balloon.ts). */
  freePageReporting: boolean;
  /** QEMU asks the guest for its memory figures this often (the QOM property guest-stats-polling-interval); absent: never. */
  statsIntervalS?: number;
}

export type Device =
  | NvdimmRootfsDevice
  | Virtio9pDevice
  | VsockDevice
  | VirtioSerialAgentDevice
  | TapNetDevice
  | VirtioBlkDevice
  | VirtioSerialPortDevice
  | FdDiskDevice
  | VirtioSerialControllerDevice
  | QmpDevice
  | SerialConsoleDevice
  | SocketConsoleDevice
  | PvpanicDevice
  | VirtioBalloonDevice;

export type DeviceKind = Device['kind'];

/** The kinds that can be added to and removed from a running VM. */
export type HotplugDevice = TapNetDevice | VsockDevice | VirtioBlkDevice | VirtioSerialPortDevice;
