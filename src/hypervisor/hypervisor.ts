// The one interface the sandbox layer uses to run a pod VM. Nothing above
// it knows the VM is QEMU: the microvm controller holds a Hypervisor and
// VmHandles, and reacts to VmEvents and the VmExit.

import type { VmConfig } from './vm-config';
import type { VmDevice } from './vm-device';

/** What a VM process costs the host (host-stats.ts reads it). */
export interface VmHostStats {
  /** User + system CPU time of the VM process (all threads, so every vCPU), in ns. */
  cpuNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  rssBytes: number;
  /** Proportional set size: shared pages (the DAX rootfs) split between the VMs mapping them. */
  pssBytes: number;
  /** Anonymous memory: guest RAM actually touched plus the hypervisor's own heap. */
  anonBytes: number;
  minorFaults: number;
  majorFaults: number;
  /** Threads of the VM process (vCPUs, I/O, main loop). */
  threads: number;
}

/**
 * The guest's own word on its memory (virtio balloon statistics), already
 * checked for sense: every figure is within the VM's RAM. Still only what
 * the guest claims: a hostile guest can report any sane-looking figures, so
 * nothing on the host may rest on them (VmHostStats is the host's truth).
 */
export interface GuestMemoryStats {
  /** When the guest sent these figures (host clock, ms since the epoch). */
  at: number;
  /** RAM the guest kernel manages (its MemTotal). */
  totalBytes: number;
  /** Unused RAM (MemFree). */
  freeBytes: number;
  /** What the guest could hand out without swapping (MemAvailable); absent when its kernel does not say. */
  availableBytes?: number;
  /** Page cache (Cached); absent when not reported. */
  diskCachesBytes?: number;
  /** Page faults since the guest booted; absent when not reported. */
  minorFaults?: number;
  majorFaults?: number;
}

export type VmState = 'running' | 'paused' | 'shutting-down' | 'exited';

/** Something the VM reported (translated from the hypervisor's own events). */
export type VmEvent =
  { type: 'shutdown'; guestInitiated: boolean; reason: string } | { type: 'guest-panicked'; detail: string } | { type: 'powerdown' } | { type: 'reset'; guestInitiated: boolean } | { type: 'stop' };

/** Why the VM process ended, as far as it can be known. */
export type VmExitReason = 'guest-shutdown' | 'guest-panicked' | 'guest-reset' | 'host-quit' | 'killed' | 'unknown';

export interface VmExit {
  reason: VmExitReason;
  /** Process exit code; null if killed by a signal or not our child (after a daemon restart). */
  exitCode: number | null;
  signal: string | null;
  at: Date;
}

export interface StopOptions {
  /** How long the guest gets to power off after the ACPI power button. */
  gracefulTimeoutMs?: number;
  /**
   * Press the button again this often during the grace period. A press a
   * guest gets before its handler runs (systemd-logind still starting, early
   * in a boot) is lost; pressing again is harmless to a guest already shutting
   * down. Absent: pressed once.
   */
  powerButtonRepeatMs?: number;
  /** How long the hypervisor gets to exit after being told to quit. */
  quitTimeoutMs?: number;
}

/** A VM's size now, and how far it can be resized (docs/resize.md). */
export interface VmSize {
  vcpus: number;
  memoryMib: number;
  /** Boot-time figures: 0 for a VM started without resize headroom (it cannot be resized). */
  maxVcpus: number;
  maxMemoryMib: number;
  /** RAM the VM booted with: memory below it cannot be taken back. */
  bootMemoryMib: number;
}

export interface VmHandle {
  readonly id: string;
  readonly pid: number;
  /** Guest vsock CID when the agent channel is vsock. */
  readonly cid?: number;
  /** Host unix socket of the agent channel when it is virtio-serial. */
  readonly agentSocket?: string;
  /** The console ring's log (vmpod's own guest); never written for a VM with a socket console. */
  readonly consoleLog: string;
  /** The guest's serial console socket, when VmConfig.console is a socket (also after reconnect). */
  readonly consoleSocket?: string;
  /** qemu-guest-agent's socket, when VmConfig.guestAgentSocket was set (also after reconnect). */
  readonly guestAgentSocket?: string;
  status(): Promise<VmState>;
  /**
   * Run the vCPUs of a prepared VM (Hypervisor.prepare, or a config with
   * `paused`). Resolves once they run; a no-op on a running VM.
   */
  start(): Promise<void>;
  /** Run the vCPUs again; the same operation as start(), named for a VM that ran before. */
  resume(): Promise<void>;
  /**
   * Hot-plug a device (before start() or while the guest runs). On failure
   * every step already taken is undone and the error names the step. A tap
   * fd passed in is handed over: it is closed here once the hypervisor has
   * it, or on failure.
   */
  addDevice(device: VmDevice): Promise<void>;
  /**
   * Unplug a device added by addDevice (by this daemon or an earlier one):
   * resolves once the hypervisor released it, which for a PCI device in a
   * running guest takes the guest's cooperation (ACPI eject). NotFoundError
   * for an id that was never added.
   */
  removeDevice(id: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** The hot-plugged devices, in the order they were added. */
  devices(): VmDevice[];
  /** Graceful power-off, then quit, then SIGKILL; resolves when the process is gone. Idempotent. */
  stop(opts?: StopOptions): Promise<VmExit>;
  /** Resolves when the VM process is gone, for whatever reason. */
  wait(): Promise<VmExit>;
  /** Subscribe to VM events; returns the unsubscribe function. */
  onEvent(listener: (e: VmEvent) => void): () => void;
  /** What the VM process costs the host (CPU, faults, RSS, PSS, anon); undefined once it is gone. */
  hostStats(): VmHostStats | undefined;
  /**
   * The guest's latest memory figures (VmConfig.guestStatsIntervalS);
   * undefined for a VM started without them, before the guest's balloon
   * driver first reported, when its last report is stale (the driver
   * stopped answering), or when what it sent makes no sense. Never rejects.
   * Optional so that test fakes need not have it.
   */
  guestMemory?(): Promise<GuestMemoryStats | undefined>;
  /** Last bytes of the guest console, to explain failures; '' for a socket console (its reader keeps the tail). */
  consoleTail(bytes?: number): string;
  /**
   * Bring consoleLog up to date with what the guest printed: it lags the
   * guest by up to a second otherwise (the console is a ring the daemon
   * drains). Resolves at once for a socket console. Never rejects.
   */
  drainConsole(): Promise<void>;
  /**
   * Stop the vCPUs and save the device and vCPU state to `file`, which VMs
   * started with VmConfig.restoreFrom resume from. The RAM is not in it: it
   * is in the VM's shared memoryFile. The VM stays stopped. Optional so that
   * test fakes need not have it.
   */
  saveState?(file: string): Promise<void>;
  /** Drop the control connection without touching the VM (daemon shutdown). */
  detach(): void;
  /** The size in force now. Optional so that test fakes need not have it. */
  size?(): Promise<VmSize>;
  /**
   * Grow or shrink the running VM in place (vCPU hot-plug/unplug, memory
   * through virtio-mem) to `target`, and return the size in force after.
   * FailedPreconditionError when the target is beyond what the VM booted
   * for, below its boot RAM, or when the guest does not give back what a
   * shrink asks (then the VM keeps what it holds).
   */
  resize?(target: { vcpus: number; memoryMib: number }): Promise<VmSize>;
}

export interface Hypervisor {
  readonly name: string;
  /**
   * Create the VM with its vCPUs not running: the hypervisor process is up,
   * the machine and the config's devices exist, the control connection is
   * open and the launch record persisted (so reconnect and destroy find
   * it). Devices can be added before handle.start(). `config.paused` is
   * implied.
   */
  prepare(config: VmConfig): Promise<VmHandle>;
  /**
   * The cold boot in one call: what prepare() makes, with the vCPUs running
   * from the start (unless `config.paused`), so the guest boots while the
   * control connection is opened and the launch record persisted. Resolves
   * once both are done (not once the guest booted); on any failure the VM
   * is killed before the error is thrown. With `config.restoreFrom` the VM
   * resumes from that saved state instead of booting, and this resolves once
   * the state is loaded.
   */
  start(config: VmConfig): Promise<VmHandle>;
  /** Find a VM started by an earlier daemon; undefined if it is no longer running. */
  reconnect(runDir: string): Promise<VmHandle | undefined>;
  /** Kill the VM recorded in `runDir` if it still runs, and remove the directory. Idempotent. */
  destroy(runDir: string): Promise<void>;
}
