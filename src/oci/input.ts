// What the pure spec generators take. Everything that would need the host
// (capabilities the daemon holds, files, device numbers) comes in through
// HostFacts so that the generators stay pure and unit-testable.

import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { OciDevice } from './types';
import type { PodUserns } from './userns';

/** The fields of an OCI image config that decide how a container runs. */
export interface ImageRunConfig {
  User?: string;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
}

export type NamespaceModeName = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface PodNamespaceModes {
  network: NamespaceModeName;
  pid: NamespaceModeName;
  ipc: NamespaceModeName;
}

/** What a container needs to know about the pod it joins. */
export interface PodContext {
  id: string;
  hostname: string;
  /** Pod network namespace path; "" when the pod uses the host network. */
  netnsPath: string;
  /** PID of the infra process holding the pod's IPC/UTS/PID namespaces. */
  infraPid: number;
  namespaces: PodNamespaceModes;
  /** cgroupfs parent path of the pod, e.g. /kubepods/besteffort/pod<uid>. */
  cgroupParent: string;
  /** Host files bind-mounted into every container; "" = not provided. */
  resolvConfPath: string;
  hostsPath: string;
  hostnamePath: string;
  /** Per-pod tmpfs for /dev/shm; "" when the pod shares the host IPC namespace. */
  shmPath: string;
  /** The pod's user namespace mappings (`hostUsers: false`); absent: the host's users. */
  userns?: PodUserns;
}

export interface HostFacts {
  /** Capabilities in the daemon's effective set, as CAP_* names. */
  capabilities: ReadonlySet<string>;
  /** The daemon's own /proc/self/oom_score_adj (runc cannot go below it). */
  oomScoreAdj: number;
  cgroupVersion: 1 | 2;
  /** Whether memory.memsw.* exists (cgroup v1 swap accounting). */
  swapAccounting: boolean;
  pathExists(path: string): boolean;
  /** Device node at `path` on the host, or null if it is not one. */
  statDevice(path: string): Omit<OciDevice, 'path'> | null;
  /** Every device node under /dev, for privileged containers. */
  hostDevices(): OciDevice[];
  readFile(path: string): string;
}

export interface ContainerSpecInput {
  containerId: string;
  config: ContainerConfig__Output;
  image: ImageRunConfig;
  /** Mounted rootfs of the container on the host. */
  rootfs: string;
  /** Contents of the image's /etc/passwd and /etc/group ("" if absent). */
  passwd: string;
  group: string;
  pod: PodContext;
  /** PID of the target container for NamespaceMode TARGET, 0 if none. */
  targetPid: number;
  host: HostFacts;
}

/** Something the generator changed from what was asked; the caller logs it. */
export interface SpecNote {
  message: string;
  detail: Record<string, unknown>;
}

export interface SpecResult<S> {
  spec: S;
  notes: SpecNote[];
}
