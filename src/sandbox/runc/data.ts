// What the runc controller keeps about a pod and a container, persisted in
// their records as opaque controller data that only this module reads.
// Version 1 carried a `type: 'runc'` tag (and a container's `user`, now the
// record's own); version 2 drops them. Both decode.

import { InternalError } from '../../../common/errors';
import type { ControllerData } from '../controller';

export const RUNC_DATA_VERSION = 2;

export interface RuncSandboxData {
  v: typeof RUNC_DATA_VERSION;
  /** <state>/sandboxes/<id>: hosts, resolv.conf, hostname, shm, infra bundle. */
  podDir: string;
  infraPid: number;
  shmPath: string;
  hostsPath: string;
  resolvConfPath: string;
  hostnamePath: string;
  cgroupParent: string;
}

export interface RuncContainerData {
  v: typeof RUNC_DATA_VERSION;
  bundle: string;
  pid: number;
  exitFile: string;
  attachSocket: string;
}

function fields(data: ControllerData, what: string, strings: readonly string[], numbers: readonly string[]): void {
  if (data.v !== undefined && data.v !== 1 && data.v !== RUNC_DATA_VERSION)
    throw new InternalError(`${what}: runc data version ${String(data.v)} is newer than this vmpod reads (${RUNC_DATA_VERSION})`);
  for (const f of strings) if (typeof data[f] !== 'string') throw new InternalError(`${what}: runc data has no string "${f}"`);
  for (const f of numbers) if (typeof data[f] !== 'number') throw new InternalError(`${what}: runc data has no number "${f}"`);
}

export function decodeSandboxData(data: ControllerData, podId: string): RuncSandboxData {
  fields(data, `pod sandbox ${podId}`, ['podDir', 'shmPath', 'hostsPath', 'resolvConfPath', 'hostnamePath', 'cgroupParent'], ['infraPid']);
  const d = data as unknown as RuncSandboxData;
  return {
    v: RUNC_DATA_VERSION,
    podDir: d.podDir,
    infraPid: d.infraPid,
    shmPath: d.shmPath,
    hostsPath: d.hostsPath,
    resolvConfPath: d.resolvConfPath,
    hostnamePath: d.hostnamePath,
    cgroupParent: d.cgroupParent,
  };
}

export function decodeContainerData(data: ControllerData, containerId: string): RuncContainerData {
  fields(data, `container ${containerId}`, ['bundle', 'exitFile', 'attachSocket'], ['pid']);
  const d = data as unknown as RuncContainerData;
  return { v: RUNC_DATA_VERSION, bundle: d.bundle, pid: d.pid, exitFile: d.exitFile, attachSocket: d.attachSocket };
}
