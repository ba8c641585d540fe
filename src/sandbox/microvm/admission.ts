// What a VM pod may ask for, checked before anything is created. A VM pod
// runs under a guest kernel of its own: the node's namespaces exist only in
// the host kernel, and a container's mounts are made by the guest's kernel,
// so no VM runtime can give a pod the node's network, PID or IPC namespace,
// or propagate a container's mounts to the host (propagation.ts). Privileged
// containers are not refused: they are privileged inside the guest
// (guest-spec.ts), which reaches nothing of the host.

import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import type { PodNamespaceModes } from '../../oci/input';
import { shareBindPropagation } from './propagation';

/** The node namespaces a pod may ask for, and the pod spec field that asks. */
const POD_FIELD = { network: 'hostNetwork', PID: 'hostPID', IPC: 'hostIPC' } as const;
type HostNamespace = keyof typeof POD_FIELD;

export function hostNamespaceRefusal(handler: string, kinds: readonly HostNamespace[]): string {
  const names = kinds.map((k) => `host ${k}`).join(', ');
  const fields = kinds.map((k) => POD_FIELD[k]).join(', ');
  return (
    `pod is routed to VM handler "${handler}" but asks for ${names} (${fields}: the node's own namespace${kinds.length > 1 ? 's' : ''}): ` +
    "a VM pod runs under a guest kernel of its own and the node's namespaces exist only in the host kernel, so no VM runtime can provide them; " +
    `run it as a trusted (runc) pod, or drop ${fields}`
  );
}

export function checkVmPod(handler: string, ns: PodNamespaceModes): void {
  const host: HostNamespace[] = [];
  if (ns.network === 'NODE') host.push('network');
  if (ns.pid === 'NODE') host.push('PID');
  if (ns.ipc === 'NODE') host.push('IPC');
  if (host.length > 0) throw new FailedPreconditionError(hostNamespaceRefusal(handler, host));
}

/** Refuse what a VM cannot give a container, with a reason the user can act on. */
export function checkVmContainer(config: Pick<ContainerConfig__Output, 'devices' | 'mounts'>): void {
  if (config.devices.length > 0) {
    throw new InvalidArgumentError('config.devices', 'host devices cannot be passed into a VM pod; run this pod as a trusted (runc) pod');
  }
  config.mounts.forEach((m, i) => shareBindPropagation(m, i));
}
