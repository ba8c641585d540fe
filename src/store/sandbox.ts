// Pod sandbox records.
//
//   RunPodSandbox ──create──► NOTREADY (controller: null, "creating")
//        │                        │ controller.createSandbox ok
//        │                        ▼
//        │                      READY ──StopPodSandbox / infra or VM died──► NOTREADY (stopped)
//        │                                                                      │
//        └─ failure: record deleted after rollback         RemovePodSandbox ────┴──► (deleted)
//
// Metadata (config, handler, namespaces, hostname) never changes after
// create; state, network and controller data change only through
// SandboxStore.update. What the pod's controller keeps is opaque here
// (ControllerData): the record carries it, the controller reads it.
//
// Schema versions (`schema`): 2 is written today. Version 1 records (no
// `schema` field; written before the pod domain layer) are decoded on load:
// their `runtime` becomes `controller` as it was (the controllers decode
// their own first layouts), `handlerType` is dropped (the handler name
// decides), and a missing `hostname` is the config's.

import type { Logger } from '../log';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';
import type { PodNamespaceModes } from '../oci/input';
import type { ControllerData } from '../sandbox/controller';
import { RecordStore } from './record-store';
import { checkRecord, isObject } from './decode';

export type { NamespaceModeName, PodNamespaceModes } from '../oci/input';

export const SANDBOX_SCHEMA = 2;

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface SandboxRecord {
  readonly schema: typeof SANDBOX_SCHEMA;
  readonly id: string;
  readonly config: PodSandboxConfig__Output;
  /** The RuntimeClass handler that runs it (a key of [runtime.handlers]). */
  readonly handler: string;
  /** Why this handler (route.ts), for verbose status and the log. */
  readonly routeReason: string;
  /** Unix nanoseconds, decimal string. */
  readonly createdAt: string;
  readonly namespaces: PodNamespaceModes;
  /** The pod's hostname (oci/hostname.ts). */
  readonly hostname: string;
  state: SandboxState;
  /** True between the record's creation and the controller finishing. */
  creating: boolean;
  netnsPath: string;
  ip: string;
  additionalIps: string[];
  /** The controller's own data; null until createSandbox returned. */
  controller: ControllerData | null;
}

/** What RunPodSandbox knows of a new pod; newSandboxRecord fills in the rest. */
export type NewSandbox = Pick<SandboxRecord, 'id' | 'config' | 'handler' | 'routeReason' | 'createdAt' | 'namespaces' | 'hostname'>;

/** The record RunPodSandbox writes first: "creating", not ready, no network or controller data yet. */
export function newSandboxRecord(p: NewSandbox): SandboxRecord {
  return { schema: SANDBOX_SCHEMA, ...p, state: 'SANDBOX_NOTREADY', creating: true, netnsPath: '', ip: '', additionalIps: [], controller: null };
}

/** A record as any vmpod version wrote it → today's shape; throws when it is not a pod record. */
export function decodeSandboxRecord(raw: unknown): SandboxRecord {
  const r = checkRecord(raw, 'pod sandbox', ['id', 'handler', 'state'], ['config', 'namespaces']);
  if (r.schema === SANDBOX_SCHEMA) return r as unknown as SandboxRecord;
  if (r.schema !== undefined) throw new Error(`pod sandbox record has schema ${JSON.stringify(r.schema)}; this vmpod reads 1 and ${SANDBOX_SCHEMA}`);
  const { runtime, handlerType: _dropped, ...rest } = r;
  const config = r.config as PodSandboxConfig__Output;
  return {
    ...(rest as unknown as SandboxRecord),
    schema: SANDBOX_SCHEMA,
    hostname: typeof r.hostname === 'string' ? r.hostname : config.hostname,
    controller: isObject(runtime) ? runtime : null,
  };
}

export type SandboxStore = RecordStore<SandboxRecord>;

export function createSandboxStore(dir: string, log: Logger): SandboxStore {
  return new RecordStore<SandboxRecord>(dir, 'pod sandbox', log, decodeSandboxRecord);
}
