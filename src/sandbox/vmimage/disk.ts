// Finding the disk in a containerDisk image's root filesystem (mounted by
// the pod domain at CreateContainer): exactly one regular file directly
// under /disk/, as KubeVirt's containerDisk format has it. Every path is
// taken without following symlinks: the image is hostile, and a link in it
// could otherwise make the daemon hand QEMU a host file.

import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { detectDiskFormat, DISK_HEADER_BYTES, type DiskFormat } from './disk-format';

/** Where a containerDisk keeps its disk (KubeVirt's format). */
export const CONTAINER_DISK_DIR = 'disk';

export interface FoundDisk extends DiskFormat {
  /** Absolute host path of the disk file (inside the container's rootfs). */
  path: string;
  /** Its name under /disk/. */
  name: string;
  fileSize: number;
}

function kindOf(st: { isSymbolicLink(): boolean; isDirectory(): boolean; isFile(): boolean }): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  return 'a device, FIFO or socket';
}

/** The disk of the image whose rootfs is at `rootfs`; INVALID_ARGUMENT naming `image` and what was found instead. */
export async function findContainerDisk(rootfs: string, image: string): Promise<FoundDisk> {
  const refuse = (what: string): InvalidArgumentError =>
    new InvalidArgumentError('image', `${image} is not a containerDisk: ${what} (a containerDisk image has exactly one qcow2 or raw disk file directly under /${CONTAINER_DISK_DIR}/)`);
  const dir = join(rootfs, CONTAINER_DISK_DIR);
  const dst = await lstat(dir).catch(() => undefined);
  if (!dst) throw refuse(`it has no /${CONTAINER_DISK_DIR}`);
  if (!dst.isDirectory()) throw refuse(`/${CONTAINER_DISK_DIR} is ${kindOf(dst)}`);
  const names = (await readdir(dir)).sort();
  if (names.length !== 1) throw refuse(names.length === 0 ? `/${CONTAINER_DISK_DIR}/ is empty` : `/${CONTAINER_DISK_DIR}/ holds ${names.length} entries (${names.slice(0, 5).join(', ')})`);
  const name = names[0];
  const path = join(dir, name);
  const st = await lstat(path);
  if (!st.isFile()) throw refuse(`/${CONTAINER_DISK_DIR}/${name} is ${kindOf(st)}`);
  // O_NOFOLLOW: a link put there between the lstat and the open is refused too; O_NONBLOCK: nor does a FIFO block us.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw refuse(`/${CONTAINER_DISK_DIR}/${name} cannot be opened (${err.code ?? err.message})`);
  });
  try {
    const fst = await fh.stat();
    if (!fst.isFile()) throw refuse(`/${CONTAINER_DISK_DIR}/${name} is ${kindOf(fst)}`);
    const head = Buffer.alloc(Math.min(DISK_HEADER_BYTES, fst.size));
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const fmt = detectDiskFormat(head.subarray(0, bytesRead), fst.size);
    if ('problem' in fmt) throw new InvalidArgumentError('image', `${image}: disk /${CONTAINER_DISK_DIR}/${name}: ${fmt.problem}`);
    return { ...fmt, path, name, fileSize: fst.size };
  } finally {
    await fh.close();
  }
}
