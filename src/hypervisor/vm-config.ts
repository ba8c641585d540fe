// The hypervisor-neutral description of one pod VM. The sandbox layer fills
// it in; a Hypervisor implementation (today only QEMU) turns it into a
// running VM. Nothing in here names a QEMU option.

export type AccelKind = 'kvm' | 'tcg';

/** How the host reaches the guest agent. */
export type AgentChannel = { transport: 'vsock'; cid: number } | { transport: 'serial'; socketPath: string };

export interface GuestBoot {
  /** Uncompressed vmlinux (PVH) or bzImage. */
  kernel: string;
  initrd?: string;
  /** Extra kernel parameters, appended after the ones vmpod always sets. */
  params?: string[];
}

export interface RootfsImage {
  /** The guest rootfs image, exposed read-only as an NVDIMM. */
  path: string;
  /** Size of the image file in bytes; must be the file's exact size and a multiple of 2 MiB. */
  sizeBytes: number;
}

/** A disk the guest sees as virtio-blk (VM-image pods). */
export interface VmDisk {
  /** Device id; also the virtio-blk serial the guest sees (/dev/disk/by-id/virtio-<serial>): 1-20 of [A-Za-z0-9_-]. */
  id: string;
  /**
   * The image file. QEMU never opens it by path: the daemon opens it
   * (O_RDONLY or O_RDWR per readOnly, O_NOFOLLOW) and hands QEMU the fd at
   * spawn (`-add-fd`, `/dev/fdset/N`), so the file need not be readable by
   * QEMU's uid nor exist in its jail.
   */
  path: string;
  format: 'qcow2' | 'raw';
  readOnly: boolean;
  /**
   * A qcow2 overlay's backing image, given explicitly (also opened by the
   * daemon and passed as an fd, read-only): QEMU never follows the backing
   * name recorded in the overlay's header, and the backing node itself gets
   * no backing at all, so a backing name inside an image is never followed.
   */
  backing?: { path: string; format: 'qcow2' | 'raw' };
  /** Firmware boot order (bootindex); absent: not a boot disk. */
  bootIndex?: number;
}

/** The VM's firmware: qboot jumps straight to a kernel (vmpod's own guest); SeaBIOS and OVMF (UEFI) boot disks. */
export type VmFirmware = 'qboot' | 'seabios' | 'ovmf';

/** The guest's serial console as a unix socket server in the run dir (an interactive console). */
export interface VmSocketConsole {
  kind: 'socket';
  socketPath: string;
}

/** A host directory exported to the guest over virtio-9p under its own tag (a VM-image pod's CRI mounts). */
export interface VmShare {
  /** The 9p mount tag: 1-31 of [A-Za-z0-9_:-], unique in the VM. */
  tag: string;
  /** The host directory (absolute). */
  path: string;
  /**
   * Read-only: served as the real files (symlinks such as a ConfigMap's
   * `..data` resolve) and nothing the guest does reaches them. Writable:
   * served so that what the guest sets (owner, mode, set-id bits, nodes,
   * FIFOs, symlinks) is kept as metadata beside the files and never applied
   * to the host's inodes (host symlinks there are unreadable in the guest).
   */
  readOnly: boolean;
}

export interface TapNetwork {
  ifname: string;
  mac: string;
}

export interface VmConfig {
  /** Sandbox id; used only for names in logs and errors. */
  id: string;
  /** Private directory of this VM: sockets, pidfile, console log, launch record. */
  runDir: string;
  accel: AccelKind;
  vcpus: number;
  memoryMib: number;
  /** Memory that may be hot-plugged later, on top of memoryMib and the rootfs. */
  hotplugMemoryMib?: number;
  /**
   * In-place resize (docs/resize.md): vCPUs can be hot-plugged up to
   * maxVcpus, and RAM grown through virtio-mem over the whole hot-plug
   * headroom (hotplugMemoryMib, default memoryMib) and shrunk back. Absent:
   * the VM keeps its boot size.
   */
  resize?: { maxVcpus: number };
  /**
   * Bound of the emulator's translated-code buffer in MiB (TCG only; QEMU's
   * `tb-size`). Absent: QEMU's own default, min(1 GiB, host RAM / 8), which
   * an idle guest filled to ~180 MiB and keeps resident.
   */
  tcgTbSizeMib?: number;
  /** The guest reports the RAM it frees and the VMM gives it back to the host (a virtio balloon that is never inflated). */
  freePageReporting?: boolean;
  /**
   * The guest's RAM may be merged with identical pages of other processes
   * by the host's KSM (QEMU `mem-merge=on`): memory saved across VMs that run
   * the same kernel, at the price of a cross-VM side channel. Absent or
   * false: `mem-merge=off`, never merged, whatever the host's KSM does.
   */
  memoryMerge?: boolean;
  /**
   * The guest's own memory figures (total, free, available, caches, faults),
   * reported through the virtio balloon every this many seconds (1-3600) and
   * read with VmHandle.guestMemory(). Brings the balloon device even without
   * freePageReporting. Absent: no guest figures.
   */
  guestStatsIntervalS?: number;
  /** Absent: no guest kernel is loaded (useful only together with `paused`). */
  boot?: GuestBoot;
  rootfs?: RootfsImage;
  /** The pod's own shared directory, exported to the guest over 9p. */
  sharedDir?: string;
  /**
   * A second directory for the pod's writable volumes, exported so that what
   * the guest sets (owner, mode, set-id bits, device nodes, FIFOs, symlinks)
   * is kept as metadata beside the files and never applied to the host's
   * inodes: another user of a volume's real directory (the host, a runc pod)
   * finds only plain files and directories there.
   */
  volumeDir?: string;
  /** The vmpod agent's channel; absent for a guest without it (a VM-image pod). */
  agent?: AgentChannel;
  /** Absent: the hypervisor's default (qboot for vmpod's own guest). `ovmf`: Debian's OVMF (package ovmf), read-only code, no persistent vars. */
  firmware?: VmFirmware;
  /** Machine type; absent: the default ('pc'). */
  machine?: 'pc' | 'q35';
  /** virtio-blk disks, in PCI order, each opened by the daemon and handed over as an fd. */
  disks?: VmDisk[];
  /**
   * The guest's serial console (ttyS0). Absent: the ring drained to
   * consoleLog (vmpod's own guest). `socket`: a unix socket server (in the
   * run dir) that the daemon connects to for output and input; QEMU drops
   * output while nobody is connected, so the guest never blocks on it.
   */
  console?: VmSocketConsole;
  /** Host directories exported over virtio-9p, each under its own tag (VM-image pods' CRI directory mounts). */
  shares?: VmShare[];
  /** A virtio-serial port named GUEST_AGENT_PORT_NAME backed by a unix socket server at this path (in the run dir), for qemu-guest-agent. */
  guestAgentSocket?: string;
  network?: TapNetwork;
  /** Pinned network namespace (e.g. /run/netns/<name>) to run the VM inside. */
  netnsPath?: string;
  /** Start with the vCPUs stopped (QEMU `-S`); `cont` over QMP resumes. */
  paused?: boolean;
  /**
   * Guest RAM in a file the daemon holds open (a memfd of memoryMib), not in
   * anonymous memory. `shared`: the guest's writes reach the file (a VM
   * template's own boot, whose RAM later VMs start from). Not shared: the
   * file is mapped copy-on-write, and what the guest writes stays its own
   * (a VM restored from a template). The VMM inherits the fd at spawn.
   */
  memoryFile?: { fd: number; shared: boolean };
  /**
   * Resume from this saved state (VmHandle.saveState) instead of booting.
   * The VM must have the devices the saved one had, and its memoryFile the
   * saved one's RAM: the state holds devices and vCPUs, not the RAM.
   */
  restoreFrom?: string;
  /** Where the VM's process goes before the VMM itself runs (its cgroup, its OOM score). */
  placement?: VmPlacement;
  /**
   * Run the VMM as this uid/gid (no supplementary groups) in its own mount
   * namespace holding only this VM's files (qemu/jail.ts). Absent: root in
   * the host's mount namespace.
   */
  jail?: VmJail;
}

/** The unprivileged identity of one VM's VMM: one per pod, from a range no real user has. */
export interface VmJail {
  uid: number;
  gid: number;
}

/** Applied to the VM's process before the VMM runs, so that all its memory is charged there. */
export interface VmPlacement {
  /** cgroup.procs of the VM's cgroup in each hierarchy (src/host/vm-cgroup.ts makes it). */
  cgroupProcs: string[];
  /** oom_score_adj of the process; never below the daemon's own (lowering needs CAP_SYS_RESOURCE). */
  oomScoreAdj?: number;
}

/** Well-known file names inside VmConfig.runDir. */
export const RUN_FILES = {
  qmpSocket: 'qmp.sock',
  agentSocket: 'agent.sock',
  consoleLog: 'console.log',
  pidfile: 'qemu.pid',
  stdout: 'qemu.stdout',
  stderr: 'qemu.stderr',
  launchRecord: 'vm.json',
  /** The devices hot-plugged since launch (qemu/device-record.ts). */
  deviceRecord: 'devices.json',
  /** The usual VmConfig.console socket of a VM-image pod. */
  consoleSocket: 'console.sock',
  /** The usual VmConfig.guestAgentSocket of a VM-image pod. */
  guestAgentSocket: 'qga.sock',
} as const;

/** The 9p mount tag the guest agent mounts the shared dir by. */
export const SHARED_MOUNT_TAG = 'vmpod-shared';
/** The 9p mount tag of VmConfig.volumeDir. */
export const VOLUME_MOUNT_TAG = 'vmpod-volumes';
/** The virtio-serial port name the guest agent looks up in /sys/class/virtio-ports. */
export const AGENT_PORT_NAME = 'vmpod.agent';
/** The virtio-serial port name qemu-guest-agent looks for (its default). */
export const GUEST_AGENT_PORT_NAME = 'org.qemu.guest_agent.0';
/** The vsock port the guest agent listens on. */
export const AGENT_VSOCK_PORT = 1024;
