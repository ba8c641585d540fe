// The one interface the sandbox layer uses to run a pod VM. Nothing above
// it knows the VM is QEMU: the microvm controller holds a Hypervisor and
// VmHandles, and reacts to VmEvents and the VmExit.

import type { VmConfig } from './vm-config';

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
}

export type VmState = 'running' | 'paused' | 'shutting-down' | 'exited';

/** Something the VM reported (translated from the hypervisor's own events). */
export type VmEvent =
  | { type: 'shutdown'; guestInitiated: boolean; reason: string }
  | { type: 'guest-panicked'; detail: string }
  | { type: 'powerdown' }
  | { type: 'reset'; guestInitiated: boolean }
  | { type: 'stop' };

/** Why the VM process ended, as far as it can be known. */
export type VmExitReason =
  | 'guest-shutdown'
  | 'guest-panicked'
  | 'guest-reset'
  | 'host-quit'
  | 'killed'
  | 'unknown';

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
  /** How long the hypervisor gets to exit after being told to quit. */
  quitTimeoutMs?: number;
}

export interface VmHandle {
  readonly id: string;
  readonly pid: number;
  /** Guest vsock CID when the agent channel is vsock. */
  readonly cid?: number;
  /** Host unix socket of the agent channel when it is virtio-serial. */
  readonly agentSocket?: string;
  readonly consoleLog: string;
  status(): Promise<VmState>;
  /** Resume a VM started paused. */
  resume(): Promise<void>;
  /** Graceful power-off, then quit, then SIGKILL; resolves when the process is gone. Idempotent. */
  stop(opts?: StopOptions): Promise<VmExit>;
  /** Resolves when the VM process is gone, for whatever reason. */
  wait(): Promise<VmExit>;
  /** Subscribe to VM events; returns the unsubscribe function. */
  onEvent(listener: (e: VmEvent) => void): () => void;
  /** What the VM process costs the host (CPU, faults, RSS, PSS, anon); undefined once it is gone. */
  hostStats(): VmHostStats | undefined;
  /** Last bytes of the guest console, to explain failures. */
  consoleTail(bytes?: number): string;
  /** Drop the control connection without touching the VM (daemon shutdown). */
  detach(): void;
}

export interface Hypervisor {
  readonly name: string;
  /** Start a VM; resolves once it is controllable (not once the guest booted). */
  start(config: VmConfig): Promise<VmHandle>;
  /** Find a VM started by an earlier daemon; undefined if it is no longer running. */
  reconnect(runDir: string): Promise<VmHandle | undefined>;
  /** Kill the VM recorded in `runDir` if it still runs, and remove the directory. Idempotent. */
  destroy(runDir: string): Promise<void>;
}
