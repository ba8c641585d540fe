// What the microvm controller keeps about a pod and a container, persisted in
// their records as opaque controller data that only this module reads.
// Version 1 carried a `type: 'microvm'` tag (and a container's `logPath`,
// which the handle now carries); version 2 drops them. Both decode.
// Paths are never trusted from the record where they can be derived from the
// id (reattachTarget in pod-vm.ts): the record is the daemon's own file, but
// a stale or hand-edited one must not make it act on other paths.

import { InternalError } from '../../../common/errors';
import type { AccelKind } from '../../hypervisor';
import type { OciProcess } from '../../oci/types';
import type { ControllerData } from '../controller';
import type { AgentEndpoint } from './agent-connect';

export const VM_DATA_VERSION = 2;

/** What a restarted daemon needs to find the VM again, and what verbose status shows. */
export interface VmPodData {
  v: typeof VM_DATA_VERSION;
  podDir: string;
  /** The VM's run dir; a restarted daemon tells the layout that started the VM by it (layout.ts, recordedVmRunDir). */
  vmRunDir: string;
  netnsPath: string;
  tapName: string;
  agent: AgentEndpoint;
  pid: number;
  vcpus: number;
  memoryMib: number;
  accel: AccelKind;
  consoleLog: string;
  guestHash: string;
  /** How long each step of the start took (start.ts). */
  startPhasesMs: Record<string, number>;
  /**
   * The VM exports the volume share (layout.ts, share-rw) and the guest has
   * it mounted: writable CRI mounts go there. Absent for a pod started by a
   * vmpod without it, whose writable mounts stay on the pod share.
   */
  volumeShare?: boolean;
  /** The uid (and gid) the pod's QEMU runs as in its jail; absent for a VM started as root by an earlier vmpod. */
  qemuUid?: number;
}

export interface VmContainerData {
  v: typeof VM_DATA_VERSION;
  /** Share-relative dir of the container (c/<id>). */
  shareDir: string;
  /** The container's process (without args), the template for execs. */
  process: Omit<OciProcess, 'args'>;
  /** CRI ContainerConfig.stdin / stdin_once (attach); absent in records written before attach existed. */
  stdin?: boolean;
  stdinOnce?: boolean;
}

function checkVersion(data: ControllerData, what: string): void {
  if (data.v !== undefined && data.v !== 1 && data.v !== VM_DATA_VERSION) throw new InternalError(`${what}: VM data version ${String(data.v)} is newer than this vmpod reads (${VM_DATA_VERSION})`);
}

export function decodeVmPodData(data: ControllerData, podId: string): VmPodData {
  checkVersion(data, `pod sandbox ${podId}`);
  for (const f of ['podDir', 'netnsPath', 'tapName']) if (typeof data[f] !== 'string') throw new InternalError(`pod sandbox ${podId}: VM data has no string "${f}"`);
  const { type: _v1Tag, v: _v, ...rest } = data as Record<string, unknown>;
  return { ...(rest as unknown as VmPodData), v: VM_DATA_VERSION };
}

export function decodeVmContainerData(data: ControllerData, containerId: string): VmContainerData {
  checkVersion(data, `container ${containerId}`);
  if (typeof data.process !== 'object' || data.process === null) throw new InternalError(`container ${containerId}: VM data has no process`);
  return {
    v: VM_DATA_VERSION,
    shareDir: typeof data.shareDir === 'string' ? data.shareDir : '',
    process: data.process as VmContainerData['process'],
    stdin: data.stdin === true,
    stdinOnce: data.stdinOnce === true,
  };
}
