// Where things are in the guest image (guest-image/build lays them out). One
// place, so a different image only changes this file.

export const GUEST = {
  /** The OCI runtime inside the guest: crun (Debian's crun package installs /usr/bin/crun; oci-runtime.ts). */
  ociRuntime: '/usr/bin/crun',
  busybox: '/bin/busybox',
  /** Where the first shared 9p mount goes unless CreateSandbox names another. */
  sharedDir: '/run/vmpod/shared',
  /** Per-container OCI bundles (config.json); /run is a tmpfs. */
  bundlesDir: '/run/vmpod/bundles',
  /** Name-service files: /etc/{hosts,resolv.conf,hostname} are links to these. */
  runDir: '/run/vmpod',
  cgroupRoot: '/sys/fs/cgroup',
  /** Parent cgroup of all containers, relative to the cgroup root. */
  cgroupParent: 'vmpod',
  vsockAddon: '/opt/vmpod/agent/vsock.node',
  virtioPortsSysfs: '/sys/class/virtio-ports',
  agentPortName: 'vmpod.agent',
  vsockPort: 1024,
} as const;

/** Paths the agent may write with CopyFile (the rootfs itself is read-only). */
export const COPY_FILE_ROOTS = ['/run/vmpod'] as const;
