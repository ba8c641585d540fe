import type { FdDiskDevice, FdsetFile } from './types';
import { opts } from './opts';

/** QEMU's device id of a disk (the VmDisk id may start with a digit, which QEMU ids may not, and must not meet vmpod's own ids). */
export function diskDeviceId(id: string): string {
  return `disk-${id}`;
}

/** The block node of the disk's image (its format over the fd). */
export function diskNodeName(id: string): string {
  return `${diskDeviceId(id)}-img`;
}

/** The block node of an overlay's backing image. */
export function diskBackingNodeName(id: string): string {
  return `${diskDeviceId(id)}-base`;
}

/** QEMU's path for the file of an fdset: its open dups the fd of the set whose access mode matches. */
export function fdsetPath(f: Pick<FdsetFile, 'set'>): string {
  return `/dev/fdset/${f.set}`;
}

/** `-add-fd`: the fd inherited at exec goes into its set (QEMU dups it and closes the original once started). */
export function addFdArgs(f: FdsetFile, opaque: string): string[] {
  return [
    '-add-fd',
    opts(`fd=${f.fd}`, [
      ['set', f.set],
      ['opaque', opaque],
    ]),
  ];
}

/**
 * One format node over one fd. A qcow2 node always gets an explicit
 * `backing`: the node name given, or null, so the backing file name written
 * in an image's header (which a guest or an image author controls) is
 * never opened. `read-only` is set on the file node too, so QEMU opens the
 * fdset O_RDONLY and only a read-only fd can serve it.
 */
function blockdev(node: string, f: FdsetFile, readOnly: boolean, backing: string | null): string[] {
  const spec: Record<string, unknown> = {
    driver: f.format,
    'node-name': node,
    'read-only': readOnly,
    file: { driver: f.blockDevice ? 'host_device' : 'file', filename: fdsetPath(f), 'read-only': readOnly },
  };
  if (f.format === 'qcow2') spec.backing = backing;
  // JSON: no ',' escaping, and `null` has no key=value spelling.
  return ['-blockdev', JSON.stringify(spec)];
}

/**
 * A disk image QEMU gets as fds only (VM-image pods): the daemon opened the
 * image (and an overlay's backing image, read-only) and QEMU inherits them
 * at exec; it never opens an image by path, so the files need not exist in
 * its jail nor be readable by its uid. The guest sees a virtio-blk disk
 * whose serial is the VmDisk id; `bootindex` orders the firmware's boot.
 */
export function fdDiskArgs(d: FdDiskDevice): string[] {
  const args: string[] = [...addFdArgs(d.image, diskNodeName(d.id))];
  if (d.backing) args.push(...addFdArgs(d.backing, diskBackingNodeName(d.id)), ...blockdev(diskBackingNodeName(d.id), d.backing, true, null));
  args.push(...blockdev(diskNodeName(d.id), d.image, d.readOnly, d.backing ? diskBackingNodeName(d.id) : null));
  const dev: Array<[string, string | number]> = [
    ['id', diskDeviceId(d.id)],
    ['drive', diskNodeName(d.id)],
    ['serial', d.id],
  ];
  if (d.bootIndex !== undefined) dev.push(['bootindex', d.bootIndex]);
  args.push('-device', opts('virtio-blk-pci', dev));
  return args;
}
