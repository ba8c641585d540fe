import type { VsockDevice } from './types';
import { opts } from './opts';

/** vhost-vsock: the guest gets `cid`; needs /dev/vhost-vsock on the host. */
export function vsockArgs(d: VsockDevice): string[] {
  return ['-device', opts('vhost-vsock-pci', [['id', 'vsock0'], ['guest-cid', d.cid]])];
}
