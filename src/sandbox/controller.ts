// The one interface between the pod domain (src/pods) and whatever isolates
// a pod: runc on the host (sandbox/runc), a QEMU VM with the vmpod agent
// (sandbox/microvm), and any handler type registered later (sandbox/index.ts).
// Nothing above this layer knows which one it talks to: everything that
// differs between them (what a pod may ask for, what verbose status shows,
// how to reach a pod's port, what a container's process is) is a method here.
//
// What a controller keeps about a pod or container is opaque to the domain:
// it returns ControllerData from create, the domain persists it in the
// record as it is and hands it back in the handle; only the controller that
// wrote it decodes it (each controller checks its own version). Every method
// is idempotent where the CRI contract asks for it (stop/remove of something
// already gone succeeds), and every failure names the step that failed.

import type { Duplex } from 'node:stream';
import type { Logger } from '../log';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { ImageRunConfig, PodNamespaceModes } from '../oci/input';
import type { StatsExtras } from './stats-extras';

/**
 * A controller's own persisted data: a JSON object it alone reads. `v` is the
 * controller's layout version; records written before versions existed have
 * none, and the controller decodes those as its first layout.
 */
export interface ControllerData {
  readonly v?: number;
  readonly [key: string]: unknown;
}

/** A pod as a controller sees it (a view of the pod record). */
export interface SandboxHandle {
  id: string;
  config: PodSandboxConfig__Output;
  namespaces: PodNamespaceModes;
  /** What the pod's containers see as their hostname (oci/hostname.ts). */
  hostname: string;
  netnsPath: string;
  data: ControllerData;
}

export interface SandboxCreateInput {
  id: string;
  config: PodSandboxConfig__Output;
  namespaces: PodNamespaceModes;
  hostname: string;
  /** From the network layer; "" for host-network pods. */
  netnsPath: string;
  /**
   * The pod's addresses. RunPodSandbox passes a promise: CNI ADD is still
   * running in the netns while the sandbox is created. A controller awaits
   * it before it needs the pod's network (a runc pod for /etc/hosts only, a
   * VM pod before anything: networked()); it rejects when ADD failed, and
   * whatever the controller made by then is its to undo.
   */
  ips: string[] | Promise<string[]>;
  log: Logger;
}

/** A SandboxCreateInput whose CNI ADD is done: what starting a pod VM needs (its tap is wired to the CNI veth). */
export type NetworkedCreateInput = Omit<SandboxCreateInput, 'ips'> & { ips: string[] };

/** Waits for the pod's network (see SandboxCreateInput.ips). */
export async function networked(input: SandboxCreateInput): Promise<NetworkedCreateInput> {
  return { ...input, ips: await input.ips };
}

export interface ContainerHandle {
  id: string;
  /** Absolute CRI log path, "" for none. */
  logPath: string;
  data: ControllerData;
}

export interface ContainerCreateInput {
  id: string;
  sandbox: SandboxHandle;
  config: ContainerConfig__Output;
  image: ImageRunConfig;
  /** The image store's id of the image the rootfs is made from (sha256:...): a VM-image pod keeps its disk overlay only over the same image. Optional so test fakes need not pass it. */
  imageId?: string;
  /** Mounted root filesystem on the host. */
  rootfs: string;
  /** The read-only image layers (absolute, top first) the rootfs overlay is made of, as the image store laid it out; the image's own files are read from them, not through the mount. */
  imageLayers?: readonly string[];
  /** Absolute CRI log path, "" for none. */
  logPath: string;
  /** The container whose PID namespace this one joins (namespace mode TARGET). */
  target?: ContainerHandle;
  /** CreateContainer of a checkpoint archive (config.image.image an absolute path): the archive whose rootfs diff and processes this container gets; `rootfs` is already over the archived container's image. */
  restoreFrom?: string;
  log: Logger;
}

/** The identity a container's process runs with (ContainerStatus.user). */
export interface ContainerUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface ContainerCreateResult {
  data: ControllerData;
  user: ContainerUser;
  /**
   * Where what the container writes lives, when that is not its rootfs's
   * upper dir (a VM-image pod's disk overlay): its disk usage is the
   * container's writable layer in ContainerStats, which kubelet holds
   * against the pod's ephemeral-storage limit.
   */
  writablePath?: string;
}

export interface ContainerProcessState {
  state: 'created' | 'running' | 'exited' | 'unknown';
  exitCode: number;
  /** Unix nanoseconds as a decimal string, "0" if not exited. */
  finishedAt: string;
  oomKilled: boolean;
  /** Why it ended, when the process did not end by itself (e.g. the pod VM died); shown as ContainerStatus.message. */
  message?: string;
}

/** ExecSync keeps at most this much of each of stdout and stderr, whatever the controller. */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** Figures from the cgroup (or the VM process), named like the CRI stats fields. */
export interface CgroupStats extends StatsExtras {
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

/**
 * What verbose status shows (PodSandboxStatus/ContainerStatus `info`).
 * `pid` is where containerd and CRI-O put it (crictl inspect templates and
 * node agents read it): the process that stands for the object on the host,
 * 0 when there is none (a VM container's process lives in the guest).
 */
export interface Description {
  pid: number;
  [key: string]: unknown;
}

/** Which of a process's streams a streaming client wants (CRI Exec/Attach requests). */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** With a terminal, stdout and stderr are one stream, delivered as stdout. */
  tty: boolean;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * The byte streams of an exec'd process, or of a container's own process
 * for attach, as the streaming server serves them. Readables apply
 * backpressure end to end: a client that stops reading stops the process's
 * output at the source, never makes the daemon buffer without bound.
 */
export interface ProcessIO {
  /** Present when asked; `end()` closes the process's stdin (EOF). */
  stdin?: NodeJS.WritableStream;
  stdout?: NodeJS.ReadableStream;
  stderr?: NodeJS.ReadableStream;
  /** Terminal size changes (tty only; otherwise FAILED_PRECONDITION). */
  resize(size: TerminalSize): Promise<void>;
  /**
   * Settles when the exec'd process has exited and all its output was
   * delivered (exitCode), or the attached container exited; rejects with a
   * typed error when the process could not be run or the pod went away.
   */
  done: Promise<{ exitCode: number }>;
  /**
   * The client went away: an exec'd process is killed, an attachment is
   * dropped (the container runs on). Idempotent; every stream, fd and
   * timer of this session is released.
   */
  close(): void;
}

/**
 * What the operator debug CLI (`vmpod vm`, src/admin) shows of a pod: named
 * facts in display order (a VM's QEMU pid, accel, agent transport, memory,
 * CID; a host pod's infra pid), and the tail of its console when it has one.
 */
export interface DebugInfo {
  /** Words for what isolates the pod, for the operator ("QEMU VM", "runc"). */
  isolation: string;
  facts: Record<string, string | number | boolean | null>;
  /** Last bytes of the pod's console as text; absent when the pod has no console. */
  consoleTail?: string;
}

/** How `vmpod debug` runs its process (src/admin): always with stdin; with a terminal of this size, or on pipes. */
export interface DebugProcessOptions {
  tty: boolean;
  /** Initial terminal size (tty only). */
  size?: TerminalSize;
  /** "NAME=value" (TERM, from the operator's terminal). */
  env: string[];
}

/** The guest agent's log ring as ReadAgentLog returned it (proto/agent/agent.proto). */
export interface AgentLogRead {
  lines: { seq: number; timeUnixNano: string; level: string; msg: string }[];
  nextSeq: number;
  /** Lines the ring evicted since the agent started. */
  dropped: number;
}

/** What a controller tells the domain without being asked. */
export type ControllerEvent = { kind: 'container-exited'; containerId: string; state: ContainerProcessState } | { kind: 'sandbox-died'; podSandboxId: string; reason: string };

/** What a handler can do, as kubelet reads it from Status (RuntimeHandlerFeatures). */
export interface HandlerFeatureFlags {
  /** Pods with `hostUsers: false` (NamespaceOption.userns_options in POD mode) run. */
  userNamespaces: boolean;
  /** Mount.recursive_read_only is honoured (every submount of the bind is read-only too). */
  recursiveReadOnlyMounts: boolean;
}

/** CheckpointContainer's request, validated: the archive to write and how long it may take. */
export interface CheckpointOptions {
  /** Absolute host path of the tar archive to write (CheckpointContainerRequest.location). */
  location: string;
  /** 0: the default. */
  timeoutS: number;
  /** The image the container runs (its record's ref as asked, and the image id), written into the archive so a restore finds its lower layers. Set by the domain. */
  image?: { ref: string; id: string };
}

/** What CreateContainer of a checkpoint archive learns from it before the rootfs is made. */
export interface CheckpointSource {
  /** The image the checkpointed container ran (CheckpointOptions.image as recorded). */
  image: { ref: string; id: string };
}

/** UpdatePodSandboxResources: the pod's resources as a whole (docs/resize.md). */
export interface PodResourcesUpdate {
  /** The sum of the containers' resources kubelet computed; null: unchanged. */
  resources: LinuxContainerResources__Output | null;
  /** The RuntimeClass overhead; null: unchanged. */
  overhead: LinuxContainerResources__Output | null;
  /**
   * Only grow, never shrink (a container's own update made the pod's sum
   * grow, outside kubelet's ordering): what already has room stays as is.
   */
  growOnly?: boolean;
}

export interface SandboxController {
  /** The handler (RuntimeClass) name this controller serves. */
  readonly handler: string;

  /** What this handler supports, for Status (fixed for the daemon's lifetime). */
  features(): HandlerFeatureFlags;

  /** Refuses (typed error) a pod this controller cannot run, before anything is created. */
  checkPod(config: PodSandboxConfig__Output, namespaces: PodNamespaceModes): void;
  /** Refuses (typed error) a container this controller cannot run in `sb`, before anything is created. */
  checkContainer(sb: SandboxHandle, config: ContainerConfig__Output): void;

  /** Creates and starts the pod's isolation (infra process or VM). Undoes its own work on failure. */
  createSandbox(input: SandboxCreateInput): Promise<ControllerData>;
  /** Ready while the infra process / VM is alive. */
  sandboxReady(sb: SandboxHandle): Promise<boolean>;
  /** Stops the infra process / VM. Idempotent. Containers are stopped by the caller first. */
  stopSandbox(sb: SandboxHandle, log: Logger): Promise<void>;
  /** Removes everything the controller created for the pod. Idempotent. */
  removeSandbox(sb: SandboxHandle, log: Logger): Promise<void>;
  sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null>;
  describeSandbox(sb: SandboxHandle): Description;
  /** A byte stream to TCP `port` inside the pod, for PortForward. */
  portForward(sb: SandboxHandle, port: number): Promise<Duplex>;

  createContainer(input: ContainerCreateInput): Promise<ContainerCreateResult>;
  startContainer(sb: SandboxHandle, c: ContainerHandle): Promise<void>;
  /** Sends `signal`, waits `timeoutS`, then SIGKILL; returns when the process has exited. Idempotent. */
  stopContainer(sb: SandboxHandle, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void>;
  /**
   * The container's root filesystem mount is no longer used once
   * stopContainer has returned (runc: the container's own mount namespace
   * holds what its remaining processes see). The domain then unmounts it in
   * StopContainer, as containerd's shim unmounts at task delete, rather
   * than on RemoveContainer's clock. Absent: unmounted at removal only.
   */
  readonly rootfsUnusedAfterStop?: boolean;
  /** Idempotent. */
  removeContainer(sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void>;
  containerState(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState>;
  execSync(sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult>;
  updateContainer(sb: SandboxHandle, c: ContainerHandle, resources: LinuxContainerResources__Output): Promise<void>;
  /**
   * Resize the pod's isolation as a whole (a VM's vCPUs and RAM, a runc
   * pod's cgroup). Typed errors name the pod, the resource and the limit.
   * Absent: UpdatePodSandboxResources is UNIMPLEMENTED for the handler.
   */
  updateSandboxResources?(sb: SandboxHandle, update: PodResourcesUpdate, log: Logger): Promise<void>;
  containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null>;
  describeContainer(sb: SandboxHandle, c: ContainerHandle): Description;
  /** Runs `cmd` in the running container with the streams asked for (CRI Exec, kubectl exec). */
  exec(sb: SandboxHandle, c: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ProcessIO>;
  /** The running container's own stdio (CRI Attach, kubectl attach). */
  attach(sb: SandboxHandle, c: ContainerHandle, opts: StreamOptions): Promise<ProcessIO>;
  /** kubelet rotated the container's log file: start writing a new one at the same path. */
  reopenContainerLog(sb: SandboxHandle, c: ContainerHandle): Promise<void>;
  /**
   * CheckpointContainer: writes an archive of the running container (its
   * processes' state and its changed files) that a container can be
   * restored from. A controller that cannot throws UnimplementedError
   * saying why.
   */
  checkpointContainer(sb: SandboxHandle, c: ContainerHandle, opts: CheckpointOptions): Promise<void>;
  /**
   * Reads the checkpoint archive at `archive` for CreateContainer of it:
   * INVALID_ARGUMENT naming it when it is not one. A handler that cannot
   * restore leaves it out; the domain then refuses the create
   * (UNIMPLEMENTED, saying why).
   */
  readCheckpoint?(archive: string): Promise<CheckpointSource>;

  /**
   * Removes whatever a create interrupted by a daemon crash may have left,
   * knowing only the id (the record never got its controller data). Idempotent.
   */
  purgeInterrupted(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void>;
  /** The domain's one subscription to what the controller notices by itself. */
  onEvent(listener: (e: ControllerEvent) => void): void;
  /** Daemon shutdown: let go of connections and timers, leave pods running. */
  close(): Promise<void>;

  /**
   * For the root-only admin socket (src/admin): what the controller knows of
   * the pod's isolation, with at most `consoleBytes` of console tail. Read
   * only: nothing of the pod changes. Optional so test fakes need not have it.
   */
  debugInfo?(sb: SandboxHandle, consoleBytes: number): Promise<DebugInfo>;
  /** The guest agent's own log lines from `sinceSeq` on; only controllers whose pods have an agent have it. */
  agentLog?(sb: SandboxHandle, sinceSeq: number): Promise<AgentLogRead>;
  /**
   * For the admin socket's `vmpod debug` (only when `[debug] guest_shell`
   * is on): runs `argv` in the pod's isolation itself, outside every
   * container (a VM's guest, as root). Only controllers whose pods have a
   * kernel of their own have it; close() ends the process and all it started.
   */
  debugProcess?(sb: SandboxHandle, argv: string[], opts: DebugProcessOptions): Promise<ProcessIO>;
}
