// The one interface between the CRI layer and whatever isolates a pod: runc
// on the host (sandbox/runc) or a QEMU VM (sandbox/microvm). Nothing above
// this layer knows which one it talks to. Every method is idempotent where
// the CRI contract asks for it (stop/remove of something already gone
// succeeds), and every failure names the step that failed.

import type { HandlerType } from '../config/types';
import type { Logger } from '../log';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { ImageRunConfig, PodNamespaceModes } from '../oci/input';
import type { Route } from './route';
import type { SandboxRuntimeData } from '../store/sandbox';
import type { ContainerRuntimeData } from '../store/container';

export type { RuncSandboxData, MicrovmSandboxData, SandboxRuntimeData } from '../store/sandbox';
export type { RuncContainerData, MicrovmContainerData, ContainerRuntimeData } from '../store/container';

/** A pod as the controller sees it (a view of the sandbox record). */
export interface SandboxHandle {
  id: string;
  config: PodSandboxConfig__Output;
  namespaces: PodNamespaceModes;
  /** What the pod's containers see as their hostname. */
  hostname: string;
  netnsPath: string;
  runtime: SandboxRuntimeData;
}

export interface SandboxCreateInput {
  id: string;
  config: PodSandboxConfig__Output;
  route: Route;
  namespaces: PodNamespaceModes;
  /** What the pod's containers see as their hostname (oci/hostname.ts). */
  hostname: string;
  /** From the network layer; "" for host-network pods. */
  netnsPath: string;
  ips: string[];
  log: Logger;
}

export interface ContainerHandle {
  id: string;
  runtime: ContainerRuntimeData;
}

export interface ContainerCreateInput {
  id: string;
  sandbox: SandboxHandle;
  config: ContainerConfig__Output;
  image: ImageRunConfig;
  /** Mounted root filesystem on the host. */
  rootfs: string;
  /** Absolute CRI log path, "" for none. */
  logPath: string;
  /** Init PID of the target container when pid namespace mode is TARGET, else 0. */
  targetPid: number;
  log: Logger;
}

export interface ContainerProcessState {
  state: 'created' | 'running' | 'exited' | 'unknown';
  pid: number;
  exitCode: number;
  /** Unix nanoseconds as a decimal string, "0" if not exited. */
  finishedAt: string;
  oomKilled: boolean;
  /** Why it ended, when the process did not end by itself (e.g. the pod VM died); shown as ContainerStatus.message. */
  message?: string;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** Figures from the cgroup, named like the CRI stats fields. */
export interface CgroupStats {
  timestampNs: string;
  cpuUsageNs: number;
  cpuUserNs: number;
  cpuSystemNs: number;
  memoryUsageBytes: number;
  memoryWorkingSetBytes: number;
  memoryRssBytes: number;
  memoryLimitBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  processes: number;
}

export interface SandboxController {
  readonly type: HandlerType;
  /** Creates and starts the pod's isolation (infra process or VM). Undoes its own work on failure. */
  createSandbox(input: SandboxCreateInput): Promise<SandboxRuntimeData>;
  /** Ready while the infra process / VM is alive. */
  sandboxReady(sb: SandboxHandle): Promise<boolean>;
  /** Stops the infra process / VM. Idempotent. Containers are stopped by the caller first. */
  stopSandbox(sb: SandboxHandle, log: Logger): Promise<void>;
  /** Removes everything the controller created for the pod. Idempotent. */
  removeSandbox(sb: SandboxHandle, log: Logger): Promise<void>;
  sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null>;

  createContainer(input: ContainerCreateInput): Promise<ContainerRuntimeData>;
  startContainer(sb: SandboxHandle, c: ContainerHandle): Promise<void>;
  /** Sends `signal`, waits `timeoutS`, then SIGKILL; returns when the process has exited. Idempotent. */
  stopContainer(sb: SandboxHandle, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void>;
  /** Idempotent. */
  removeContainer(sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void>;
  containerState(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState>;
  execSync(sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult>;
  updateContainer(sb: SandboxHandle, c: ContainerHandle, resources: LinuxContainerResources__Output): Promise<void>;
  containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null>;
  /** kubelet rotated the container's log file: start writing a new one at the same path. */
  reopenContainerLog(sb: SandboxHandle, c: ContainerHandle): Promise<void>;
  /**
   * Removes whatever a create interrupted by a daemon crash may have left,
   * knowing only the id (the record never got its runtime data). Idempotent.
   * Optional: without it only the records and rootfs are dropped.
   */
  purgeInterrupted?(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void>;
}

export type ControllerRegistry = ReadonlyMap<HandlerType, SandboxController>;
