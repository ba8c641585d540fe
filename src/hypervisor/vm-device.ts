// The hypervisor-neutral description of a device added to a VM after it was
// created (VmHandle.addDevice): the pod's NIC and agent channel given to a
// pre-booted VM at hand-out, a VM image's disk. Nothing in here names a
// QEMU option; qemu/hotplug.ts turns each kind into QMP commands.

/** Where a NIC's packets go on the host. */
export type TapSource =
  /** A tap the hypervisor opens by name, in its own network namespace. */
  | { ifname: string }
  /**
   * An open tap fd of the daemon, handed over to the hypervisor (QEMU:
   * SCM_RIGHTS + getfd) and closed by addDevice; works whatever namespace
   * the hypervisor runs in.
   */
  | { fd: number };

export interface VmNetDevice {
  kind: 'net';
  /** Unique among the VM's devices: a letter, then up to 31 of [A-Za-z0-9_-]. */
  id: string;
  mac: string;
  tap: TapSource;
}

export interface VmVsockDevice {
  kind: 'vsock';
  id: string;
  /** Guest CID, from the host's CidAllocator. */
  cid: number;
}

export interface VmBlockDevice {
  kind: 'block';
  id: string;
  /** Disk image on the host (absolute). */
  path: string;
  format: 'raw' | 'qcow2';
  readOnly: boolean;
}

/** A virtio-serial port whose host end is a listening unix socket (the agent channel's transport). Needs the VM's virtio-serial controller, which VMs with a serial agent channel have. */
export interface VmSerialPortDevice {
  kind: 'serial-port';
  id: string;
  socketPath: string;
  /** The port name the guest finds in /sys/class/virtio-ports/<port>/name. */
  name: string;
}

export type VmDevice = VmNetDevice | VmVsockDevice | VmBlockDevice | VmSerialPortDevice;
export type VmDeviceKind = VmDevice['kind'];
