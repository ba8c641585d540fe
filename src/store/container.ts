// Container records.
//
//   CreateContainer ──► CREATED ──StartContainer──► RUNNING ──process exits / StopContainer──► EXITED
//                          │                                                                    │
//                          └──────────StopContainer (never started)────────► EXITED            │
//                                                            RemoveContainer (any state) ───────┴──► (deleted)
//
// A failed create deletes the record after rollback. RUNNING → EXITED is
// noticed lazily: status and list calls ask the controller and record the
// exit (code, time, reason) through ContainerStore.update.

import type { Logger } from '../log';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import { RecordStore } from './record-store';

export interface RuncContainerData {
  type: 'runc';
  bundle: string;
  pid: number;
  exitFile: string;
  attachSocket: string;
  /** The CRI log conmon writes ("" for none); absent in records written before it was kept. */
  logPath?: string;
  /** The identity the process runs with (ContainerStatus.user). */
  user: { uid: number; gid: number; additionalGids: number[] };
}

export interface MicrovmContainerData {
  type: 'microvm';
  [key: string]: unknown;
}

export type ContainerRuntimeData = RuncContainerData | MicrovmContainerData;

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerRecord {
  readonly id: string;
  readonly podSandboxId: string;
  readonly config: ContainerConfig__Output;
  /** The image as the caller named it, and what it resolved to. */
  readonly image: string;
  readonly imageId: string;
  readonly imageRef: string;
  /** Absolute CRI log path ("" = none). */
  readonly logPath: string;
  readonly stopSignal: number;
  /** Unix nanoseconds, decimal strings; "0" = not yet. */
  readonly createdAt: string;
  startedAt: string;
  finishedAt: string;
  state: ContainerState;
  exitCode: number;
  reason: string;
  message: string;
  /** Resources last applied (UpdateContainerResources updates them). */
  resources: LinuxContainerResources__Output | null;
  /** Mounted root filesystem and its writable layer on the host ("" until prepared). */
  rootfs: string;
  upperDir: string;
  runtime: ContainerRuntimeData | null;
}

function isContainerRecord(v: unknown): v is ContainerRecord {
  const r = v as ContainerRecord;
  return typeof r?.id === 'string' && typeof r.podSandboxId === 'string' && typeof r.state === 'string' && typeof r.config === 'object';
}

export type ContainerStore = RecordStore<ContainerRecord>;

export function createContainerStore(dir: string, log: Logger): ContainerStore {
  return new RecordStore<ContainerRecord>(dir, 'container', log, isContainerRecord);
}
