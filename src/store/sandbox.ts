// Pod sandbox records.
//
//   RunPodSandbox ──create──► NOTREADY (runtime: null, "creating")
//        │                        │ controller.createSandbox ok
//        │                        ▼
//        │                      READY ──StopPodSandbox / infra or VM died──► NOTREADY (stopped)
//        │                                                                      │
//        └─ failure: record deleted after rollback         RemovePodSandbox ────┴──► (deleted)
//
// Metadata (config, handler, namespaces) never changes after create; state,
// network and runtime data change only through SandboxStore.update.

import type { Logger } from '../log';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import { RecordStore } from './record-store';

export type NamespaceModeName = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface PodNamespaceModes {
  network: NamespaceModeName;
  pid: NamespaceModeName;
  ipc: NamespaceModeName;
}

/** What the runc controller keeps about a pod. */
export interface RuncSandboxData {
  type: 'runc';
  /** <state>/sandboxes/<id>: hosts, resolv.conf, hostname, shm, infra bundle. */
  podDir: string;
  infraPid: number;
  shmPath: string;
  hostsPath: string;
  resolvConfPath: string;
  hostnamePath: string;
  cgroupParent: string;
  /** The hostname the pod's containers see (HOSTNAME, /etc/hostname). */
  hostname: string;
}

/** The VM controller's own data; its engineer narrows this. */
export interface MicrovmSandboxData {
  type: 'microvm';
  [key: string]: unknown;
}

export type SandboxRuntimeData = RuncSandboxData | MicrovmSandboxData;

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface SandboxRecord {
  readonly id: string;
  readonly config: PodSandboxConfig__Output;
  readonly handler: string;
  readonly handlerType: 'runc' | 'microvm';
  readonly routeReason: string;
  /** Unix nanoseconds, decimal string. */
  readonly createdAt: string;
  readonly namespaces: PodNamespaceModes;
  /** The pod's hostname (oci/hostname.ts); absent in records written before it was kept. */
  readonly hostname?: string;
  state: SandboxState;
  /** True between the record's creation and the controller finishing. */
  creating: boolean;
  netnsPath: string;
  ip: string;
  additionalIps: string[];
  runtime: SandboxRuntimeData | null;
}

function isSandboxRecord(v: unknown): v is SandboxRecord {
  const r = v as SandboxRecord;
  return typeof r?.id === 'string' && typeof r.handler === 'string' && typeof r.state === 'string' && typeof r.config === 'object';
}

export type SandboxStore = RecordStore<SandboxRecord>;

export function createSandboxStore(dir: string, log: Logger): SandboxStore {
  return new RecordStore<SandboxRecord>(dir, 'pod sandbox', log, isSandboxRecord);
}
