import type { NinePSecurityModel, Virtio9pDevice } from './types';
import { opts } from './opts';

export type { NinePSecurityModel } from './types';

/*
 * QEMU's 9p security models this project serves directories with.
 *
 * - `none`: QEMU acts on the real files with the guest's requests: a guest
 *   chown, chmod 4755, mknod or mkfifo lands on the host inode as asked
 *   (within QEMU's capabilities). Host symlinks (image layers, kubelet's
 *   ConfigMap/Secret `..data` links) resolve in the guest.
 * - `mapped-xattr`: QEMU creates every file as its own user with mode
 *   0600 (dirs 0700) and keeps the guest's uid, gid, mode and device
 *   number in `user.virtfs.*` xattrs; device nodes, FIFOs and symlinks
 *   the guest makes are regular files on the host, and chown/chmod only
 *   rewrite the xattrs. Files without the xattrs show their real owner and
 *   mode. But QEMU (7.2 and later alike) reads every symlink in this model
 *   by opening it with O_NOFOLLOW and reading the file's contents, so a
 *   real host symlink fails with ELOOP in the guest (measured: /bin/sh of
 *   a busybox image, `cat: Too many levels of symbolic links`): an image
 *   rootfs or a kubelet ConfigMap/Secret volume cannot be served this way.
 */

/**
 * The pod share's model. It stays `none`: the share serves the container
 * rootfs overlays, whose image layers hold real symlinks that
 * `mapped-xattr` cannot read (see above). What stops a guest's set-id
 * files and nodes from mattering there is host-side: every bind into the
 * share is nosuid,nodev (microvm/share.ts), QEMU has no CAP_MKNOD
 * (qemu/launch.ts), and the pod dir is 0700. `mapped-xattr` is the model
 * for a separate export of writable volumes, whose real directories other
 * host processes use (docs/security.md).
 */
export const POD_SHARE_SECURITY_MODEL: NinePSecurityModel = 'none';

/**
 * The model of the export of a pod's writable volumes (VmConfig.volumeDir):
 * what the guest makes there is inert on the host, and a volume's files are
 * made by the host or the guest, not unpacked from image layers. A host
 * symlink in a writable volume is unreadable in the guest (above): the
 * trade-off docs/security.md describes.
 */
export const VOLUME_SHARE_SECURITY_MODEL: NinePSecurityModel = 'mapped-xattr';

/**
 * One host directory over virtio-9p, with the security model given (the
 * device's own, else POD_SHARE_SECURITY_MODEL). `multidevs=remap` because
 * the share contains overlay and bind mounts (other devices) whose inode
 * numbers would otherwise collide in the guest.
 */
export function virtio9pArgs(d: Virtio9pDevice, model: NinePSecurityModel = d.securityModel ?? POD_SHARE_SECURITY_MODEL): string[] {
  const fsdev: Array<[string, string]> = [
    ['id', d.id],
    ['path', d.path],
    ['security_model', model],
    ['multidevs', 'remap'],
  ];
  if (d.readOnly) fsdev.push(['readonly', 'on']);
  return [
    '-fsdev',
    opts('local', fsdev),
    '-device',
    opts('virtio-9p-pci', [
      ['fsdev', d.id],
      ['mount_tag', d.mountTag],
    ]),
  ];
}
