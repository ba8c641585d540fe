import type { Virtio9pDevice } from './types';
import { opts } from './opts';

/**
 * One host directory over virtio-9p. `security_model=none` because QEMU runs
 * as root and files keep their real owners; `multidevs=remap` because the
 * share contains overlay mounts (other devices) whose inode numbers would
 * otherwise collide in the guest.
 */
export function virtio9pArgs(d: Virtio9pDevice): string[] {
  return [
    '-fsdev',
    opts('local', [
      ['id', d.id],
      ['path', d.path],
      ['security_model', 'none'],
      ['multidevs', 'remap'],
    ]),
    '-device',
    opts('virtio-9p-pci', [
      ['fsdev', d.id],
      ['mount_tag', d.mountTag],
    ]),
  ];
}
