// What a VM-image pod may ask for, checked before anything is created. The
// pod is one VM booted from one disk: the node's namespaces cannot be given
// to it (microvm/admission.ts says why), and it has exactly one container,
// the VM, whose image is the disk. Restarts of that container (kubelet's
// attempt + 1, same name) are the same VM booted again. What is refused is
// refused with a reason the user can act on (CRI devices are checked at
// CreateContainer, block-devices.ts); what the VM ignores (command,
// args, env, working dir: the disk's own init decides what runs) is not
// refused, since kubelet fills some of it in for every container.

import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig';
import type { PodNamespaceModes } from '../../oci/input';
import { checkVmPod } from '../microvm/admission';

export function checkVmImagePod(handler: string, config: PodSandboxConfig__Output, ns: PodNamespaceModes): void {
  checkVmPod(handler, ns);
  if (config.linux?.security_context?.privileged) {
    throw new InvalidArgumentError(
      'config.linux.security_context.privileged',
      `pod is routed to VM-image handler "${handler}", whose pod is one VM booted from its image's disk: there is nothing to make privileged; drop privileged`,
    );
  }
}

/** What the controller knows of the pod's containers when a new one is asked for. */
export interface PodContainerState {
  /** The container name (metadata.name) the pod's VM runs as, once a container was created. */
  name?: string;
  /** A container of the pod whose VM is created or running (not exited). */
  active?: string;
}

export function checkVmImageContainer(podId: string, config: Pick<ContainerConfig__Output, 'metadata' | 'linux'>, pod: PodContainerState): void {
  const name = config.metadata?.name ?? '';
  if (pod.name !== undefined && pod.name !== name) {
    throw new FailedPreconditionError(
      `container "${name}" in pod ${podId}: a VM-image pod has exactly one container, the VM ("${pod.name}"); init and sidecar containers cannot run beside it (run them in a pod of their own)`,
    );
  }
  if (pod.active) {
    throw new FailedPreconditionError(`container "${name}" in pod ${podId}: the pod's VM still runs as container ${pod.active}; stop it first (its disk overlay is in use)`);
  }
  if (config.linux?.security_context?.privileged) {
    throw new InvalidArgumentError(`container "${name}": linux.security_context.privileged`, 'a VM-image container is a VM booted from its disk: there is nothing to make privileged; drop privileged');
  }
}
