// Mount propagation of a VM pod's volumes. A volume reaches the guest as a
// directory of the pod's 9p share: on the host its source is bound into the
// share (share.ts, bindInto) and QEMU serves whatever path the guest names,
// crossing the host's mounts below it. In the guest the container's bind of
// that directory is rprivate whatever was asked (guest-spec.ts): a host
// mount arrives there as new content of a 9p directory, not as a mount event.
//
//   * None (PRIVATE → rprivate): the share's bind is rprivate; a mount the
//     host makes later below the source is not seen by the guest.
//   * HostToContainer (rslave): the share's bind is a slave of the source's
//     mount, so a mount the host makes later below the source propagates to
//     it and QEMU serves it. Mounts made in the guest never reach the host.
//     What arrives keeps the flags the host gave it (the kernel offers no way
//     to make future propagated mounts read-only, nodev or nosuid): so a
//     read-only volume cannot have it, since a later host mount below it
//     would reach the guest writable. nodev is only a second line there:
//     QEMU has no CAP_MKNOD and its 9p server refuses to open special files.
//   * Bidirectional (rshared): refused. The container's mounts are made by
//     the guest's kernel; the host's kernel never sees them, so no VM
//     runtime can propagate them to the host.

import { FailedPreconditionError } from '../../../common/errors';
import type { Mount__Output } from '../../generated/cri/runtime/v1/Mount';

/** The propagation of a volume's bind into the pod's share on the host. */
export type ShareBindPropagation = 'rprivate' | 'rslave';

/** What a VM pod's volume gets for the CRI propagation it asks for; refuses what a VM cannot give (pure). */
export function shareBindPropagation(m: Pick<Mount__Output, 'propagation' | 'readonly' | 'host_path' | 'container_path'>, index: number): ShareBindPropagation {
  const which = `config.mounts[${index}] (${m.host_path} on ${m.container_path})`;
  switch (m.propagation) {
    case 'PROPAGATION_BIDIRECTIONAL':
      throw new FailedPreconditionError(
        `${which} asks for Bidirectional mount propagation, which no VM runtime can provide: the container's mounts are made by the pod VM's own kernel, ` +
          'which the host kernel never sees, so they cannot propagate to the host; use HostToContainer (host mounts reach the container) or None, or run the pod as a trusted (runc) pod',
      );
    case 'PROPAGATION_HOST_TO_CONTAINER':
      if (m.readonly) {
        throw new FailedPreconditionError(
          `${which} is read-only with HostToContainer propagation, which a VM pod cannot keep read-only: a mount the host makes below ${m.host_path} later ` +
            'would reach the guest writable (the kernel cannot make future propagated mounts read-only); use None propagation, a writable volume, or a trusted (runc) pod',
        );
      }
      return 'rslave';
    default:
      return 'rprivate';
  }
}
