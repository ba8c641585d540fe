// Status and list answers: records as they are, after asking the controller
// whether anything ended since (refresh), so an exit is seen by the next call.

import type { Description } from '../sandbox/controller';
import type { ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';
import { containerHandle, podRuntime, type Domain } from './domain';
import { refreshContainer, refreshPod } from './exits';
import { selectContainers, selectPods, type ContainerFilter, type PodFilter } from './filters';

export interface PodStatus {
  pod: SandboxRecord;
  /** Its containers that are fully created. */
  containers: ContainerRecord[];
  /** For verbose status: the controller's description of the pod. */
  description?: Description;
}

export async function podStatus(d: Domain, sb: SandboxRecord, verbose: boolean): Promise<PodStatus> {
  const pod = await refreshPod(d, sb);
  const containers = await Promise.all(
    selectContainers(d.containers.list(), { podSandboxId: pod.id })
      .filter((c) => c.podSandboxId === pod.id)
      .map((c) => refreshContainer(d, c)),
  );
  const rt = verbose ? podRuntime(d, pod) : null;
  return { pod, containers, description: rt ? rt.ctl.describeSandbox(rt.h) : undefined };
}

export async function listPods(d: Domain, f: PodFilter | undefined): Promise<SandboxRecord[]> {
  const pods = await Promise.all(selectPods(d.sandboxes.list(), f).map((s) => refreshPod(d, s)));
  return f?.state ? pods.filter((s) => s.state === f.state) : pods;
}

export interface ContainerStatus {
  container: ContainerRecord;
  description?: Description;
}

export async function containerStatus(d: Domain, c: ContainerRecord, verbose: boolean): Promise<ContainerStatus> {
  const container = await refreshContainer(d, c);
  if (!verbose) return { container };
  const sb = d.sandboxes.get(container.podSandboxId);
  const rt = sb ? podRuntime(d, sb) : null;
  const h = containerHandle(container);
  return { container, description: rt && h ? rt.ctl.describeContainer(rt.h, h) : { pid: 0 } };
}

export async function listContainers(d: Domain, f: ContainerFilter | undefined): Promise<ContainerRecord[]> {
  const items = await Promise.all(selectContainers(d.containers.list(), f).map((c) => refreshContainer(d, c)));
  return f?.state ? items.filter((c) => c.state === f.state) : items;
}
