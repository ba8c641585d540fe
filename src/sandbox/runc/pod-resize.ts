// UpdatePodSandboxResources of a runc pod: its cgroup parent (the pod-level
// cgroup every container of the pod sits under) gets the pod's CPU shares,
// quota and memory limit. Under kubelet that is kubelet's own pod cgroup,
// which kubelet sets too; for a pod without a cgroup_parent it is vmpod's
// /vmpod/<id>, which only this sets. A container's own update
// (growOnly) leaves the pod cgroup alone: the containers' cgroups carry
// their limits and kubelet resizes the pod itself, in its order.

import { cgroupResizeOf, resizeCgroup } from '../../host/cgroup-resize';
import type { Logger } from '../../log';
import type { PodResourcesUpdate, SandboxHandle } from '../controller';
import { decodeSandboxData } from './data';

export async function resizeRuncPod(sb: SandboxHandle, u: PodResourcesUpdate, cgroupVersion: 1 | 2, log: Logger): Promise<void> {
  if (u.growOnly || !u.resources) return;
  const path = decodeSandboxData(sb.data, sb.id).cgroupParent;
  const r = cgroupResizeOf(u.resources);
  await resizeCgroup(`pod sandbox ${sb.id} (cgroup ${path})`, path, r, cgroupVersion);
  log.info({ cgroup: path, limits: r }, 'pod cgroup resized');
}
