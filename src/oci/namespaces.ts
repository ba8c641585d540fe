// Which namespaces a container creates and which it joins. The pod's IPC, UTS
// and (when shared) PID namespaces are held by the infra process; containers
// join them through /proc/<infraPid>/ns/*. The network namespace is the
// pod's bind-mounted netns file (from the network layer).

import { FailedPreconditionError } from '../../common/errors';
import type { NamespaceModeName, PodContext, PodNamespaceModes } from './input';
import type { OciNamespace } from './types';

const nsPath = (pid: number, ns: string): string => `/proc/${pid}/ns/${ns}`;

/** Namespaces of the infra process: it creates what the pod will share. */
export function sandboxNamespaces(modes: PodNamespaceModes, netnsPath: string, cgroupVersion: 1 | 2, usernsPath = ''): OciNamespace[] {
  // The pod's user namespace (pinned beside its netns, which it owns) is
  // joined first, so that every namespace the infra creates is owned by it.
  const out: OciNamespace[] = usernsPath ? [{ type: 'user', path: usernsPath }, { type: 'mount' }] : [{ type: 'mount' }];
  if (modes.network !== 'NODE') {
    out.push(netnsPath ? { type: 'network', path: netnsPath } : { type: 'network' });
    // A host-network pod keeps the host's hostname, as kubelet users expect.
    out.push({ type: 'uts' });
  }
  if (modes.ipc !== 'NODE') out.push({ type: 'ipc' });
  if (modes.pid !== 'NODE') out.push({ type: 'pid' });
  if (cgroupVersion === 2) out.push({ type: 'cgroup' });
  return out;
}

export function containerNamespaces(
  pod: PodContext,
  container: { pid: NamespaceModeName; ipc: NamespaceModeName; network: NamespaceModeName },
  targetPid: number,
  cgroupVersion: 1 | 2,
): OciNamespace[] {
  // runc joins the user namespace before the others, as it must: they are owned by it.
  const out: OciNamespace[] = pod.userns ? [{ type: 'user', path: nsPath(pod.infraPid, 'user') }, { type: 'mount' }] : [{ type: 'mount' }];
  if (pod.namespaces.network !== 'NODE') {
    out.push(pod.netnsPath ? { type: 'network', path: pod.netnsPath } : { type: 'network', path: nsPath(pod.infraPid, 'net') });
    out.push({ type: 'uts', path: nsPath(pod.infraPid, 'uts') });
  }
  if (pod.namespaces.ipc !== 'NODE') out.push({ type: 'ipc', path: nsPath(pod.infraPid, 'ipc') });
  switch (container.pid) {
    case 'NODE':
      break;
    case 'POD':
      out.push({ type: 'pid', path: nsPath(pod.infraPid, 'pid') });
      break;
    case 'TARGET':
      if (targetPid <= 0) throw new FailedPreconditionError('namespace_options.pid is TARGET but the target container is not running');
      out.push({ type: 'pid', path: nsPath(targetPid, 'pid') });
      break;
    case 'CONTAINER':
      out.push({ type: 'pid' });
      break;
  }
  if (cgroupVersion === 2) out.push({ type: 'cgroup' });
  return out;
}
