// Where a VM-image pod's files live on the host. Nothing here is shared with
// the guest: it sees only the disks QEMU is handed as fds.
//
//   <state>/vm-image/<pod id>/     root, 0700 (host only)
//     overlay.qcow2                the pod's writable layer over the image's disk (overlay.ts)
//     overlay.json                 what the overlay lies over, and the pod's container name
//     cidata.iso                   cloud-init NoCloud disk (cidata.ts), rebuilt per container
//     vm-cgroup.json               the VM's cgroup dirs, for removal by id (microvm/pod-vm.ts)
//     containers.json              every container id created in the pod, for removal by pod id
//     stopped                      present once StopPodSandbox ran
//   /run/vmpod/s/<h>/              the VM's run dir, per container (a restarted
//                                  container boots a new QEMU while kubelet may not
//                                  have removed the old one yet): qmp.sock,
//                                  console.sock, qga.sock, qemu.pid, vm.json
//                                  (microvm/layout.ts explains the short path)

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { RUN_FILES } from '../../hypervisor';
import { vmRunPaths, type VmRunPaths } from '../microvm/layout';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface VmImagePodPaths {
  dir: string;
  cidata: string;
  containersRecord: string;
  stoppedMark: string;
}

export function vmImagePodPaths(state: string, podId: string): VmImagePodPaths {
  // Ids become path components.
  if (!ID_RE.test(podId)) throw new InvalidArgumentError('pod sandbox id', `"${podId}" is not a valid id`);
  const dir = join(state, 'vm-image', podId);
  return { dir, cidata: join(dir, 'cidata.iso'), containersRecord: join(dir, 'containers.json'), stoppedMark: join(dir, 'stopped') };
}

export interface ContainerRunPaths extends VmRunPaths {
  consoleSocket: string;
  guestAgentSocket: string;
}

/** The run dir of the VM of container `containerId`. Pure. */
export function containerRunPaths(state: string, containerId: string): ContainerRunPaths {
  const run = vmRunPaths(state, containerId);
  return { ...run, consoleSocket: join(run.dir, RUN_FILES.consoleSocket), guestAgentSocket: join(run.dir, RUN_FILES.guestAgentSocket) };
}

/** The container ids recorded in the pod dir (bad entries dropped: only ids that can be paths). */
export async function readPodContainers(p: VmImagePodPaths): Promise<string[]> {
  const text = await readFile(p.containersRecord, 'utf8').catch(() => '');
  try {
    const v = JSON.parse(text || '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && ID_RE.test(x)) : [];
  } catch {
    return [];
  }
}

/** Record `containerId` as the pod's (before its VM can exist, so that removing the pod by id finds it). */
export async function addPodContainer(p: VmImagePodPaths, containerId: string): Promise<void> {
  const ids = await readPodContainers(p);
  if (ids.includes(containerId)) return;
  const tmp = `${p.containersRecord}.tmp`;
  await writeFile(tmp, JSON.stringify([...ids, containerId]), { mode: 0o600 });
  await rename(tmp, p.containersRecord);
}
