// Container records.
//
//   CreateContainer ──► CREATED ──StartContainer──► RUNNING ──process exits / StopContainer──► EXITED
//                          │                                                                    │
//                          └──────────StopContainer (never started)────────► EXITED            │
//                                                            RemoveContainer (any state) ───────┴──► (deleted)
//
// A failed create deletes the record after rollback. RUNNING → EXITED is
// recorded (code, time, reason) through ContainerStore.update when the
// controller reports the exit, or when a status or list call asks it.
//
// Schema versions (`schema`): 2 is written today. Version 1 records (no
// `schema`; before the pod domain layer) are decoded on load: `runtime`
// becomes the opaque `controller` data, and the runc controller's `user`
// inside it becomes the record's own `user`.

import type { Logger } from '../log';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { ContainerUser, ControllerData } from '../sandbox/controller';
import { checkRecord, isObject } from './decode';
import { RecordStore } from './record-store';

export const CONTAINER_SCHEMA = 2;

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerRecord {
  readonly schema: typeof CONTAINER_SCHEMA;
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
  /** Mounted root filesystem on the host ("" until prepared). */
  rootfs: string;
  /** What the container writes, whose usage ContainerStats reports: the rootfs's upper dir, or the controller's own (a VM-image pod's disk overlay); "" until prepared. */
  upperDir: string;
  /** The identity its process runs with; null until created (and for VM containers of version 1 records). */
  user: ContainerUser | null;
  /** The controller's own data; null until createContainer returned. */
  controller: ControllerData | null;
}

/** What CreateContainer knows of a new container; newContainerRecord fills in the rest. */
export type NewContainer = Pick<ContainerRecord, 'id' | 'podSandboxId' | 'config' | 'image' | 'imageId' | 'imageRef' | 'logPath' | 'stopSignal' | 'createdAt' | 'resources'>;

/** The record CreateContainer writes first: created, never started, no rootfs, user or controller data yet. */
export function newContainerRecord(c: NewContainer): ContainerRecord {
  return {
    schema: CONTAINER_SCHEMA,
    ...c,
    startedAt: '0',
    finishedAt: '0',
    state: 'CONTAINER_CREATED',
    exitCode: 0,
    reason: '',
    message: '',
    rootfs: '',
    upperDir: '',
    user: null,
    controller: null,
  };
}

/** A record as any vmpod version wrote it → today's shape; throws when it is not a container record. */
export function decodeContainerRecord(raw: unknown): ContainerRecord {
  const r = checkRecord(raw, 'container', ['id', 'podSandboxId', 'state'], ['config']);
  if (r.schema === CONTAINER_SCHEMA) return r as unknown as ContainerRecord;
  if (r.schema !== undefined) throw new Error(`container record has schema ${JSON.stringify(r.schema)}; this vmpod reads 1 and ${CONTAINER_SCHEMA}`);
  const { runtime, ...rest } = r;
  const user = isObject(runtime) && isObject(runtime.user) ? (runtime.user as unknown as ContainerUser) : null;
  return { ...(rest as unknown as ContainerRecord), schema: CONTAINER_SCHEMA, user, controller: isObject(runtime) ? runtime : null };
}

export type ContainerStore = RecordStore<ContainerRecord>;

export function createContainerStore(dir: string, log: Logger): ContainerStore {
  return new RecordStore<ContainerRecord>(dir, 'container', log, decodeContainerRecord);
}
