// The files a VM's disks are made of, and the fd each has in QEMU. The
// daemon opens them (launch.ts) and QEMU inherits them at exec as fds 3,
// 4, ... in this order, then the guest RAM file if there is one; the
// command line (devices/fd-disk.ts, cmdline.ts) names them by those
// numbers. One pure function serves both, so the two cannot disagree.

import type { VmConfig, VmDisk } from '../vm-config';
import type { FdDiskDevice, FdsetFile } from './devices/types';

/** The first fd after stdin, stdout and stderr. */
export const FIRST_PASSED_FD = 3;

/** One file QEMU inherits: where the daemon opens it, how, and the fd and fdset it becomes. */
export interface PassedFile extends FdsetFile {
  path: string;
  readOnly: boolean;
  /** For errors: `disk <id> image` or `disk <id> backing image`. */
  what: string;
}

/** Every disk file of `c`, in fd order: each disk's image, then its backing image. Pure. */
export function passedFiles(c: Pick<VmConfig, 'disks'>): PassedFile[] {
  const out: PassedFile[] = [];
  const add = (path: string, format: VmDisk['format'], readOnly: boolean, what: string): void => {
    const i = out.length;
    out.push({ path, format, readOnly, what, fd: FIRST_PASSED_FD + i, set: i + 1 });
  };
  for (const d of c.disks ?? []) {
    add(d.path, d.format, d.readOnly, `disk ${d.id} image`);
    if (d.backing) add(d.backing.path, d.backing.format, true, `disk ${d.id} backing image`);
  }
  return out;
}

/** The fd QEMU inherits the guest RAM file as (VmConfig.memoryFile): the one after the disk files. Pure. */
export function memoryFileFd(c: Pick<VmConfig, 'disks'>): number {
  return FIRST_PASSED_FD + passedFiles(c).length;
}

/**
 * The fd-disk devices of `c`, whose fdsets are those of passedFiles(c);
 * `blockDeviceSets`: the sets whose file the daemon found to be a host block
 * device when it opened it (a block-mode volume). Pure.
 */
export function diskDevices(c: Pick<VmConfig, 'disks'>, blockDeviceSets: ReadonlySet<number> = new Set()): FdDiskDevice[] {
  const files = passedFiles(c);
  let next = 0;
  const take = (): FdsetFile => {
    const f = files[next++];
    const file: FdsetFile = { set: f.set, fd: f.fd, format: f.format };
    if (blockDeviceSets.has(f.set)) file.blockDevice = true;
    return file;
  };
  return (c.disks ?? []).map((d) => {
    const dev: FdDiskDevice = { kind: 'fd-disk', id: d.id, image: take(), readOnly: d.readOnly };
    if (d.backing) dev.backing = take();
    if (d.bootIndex !== undefined) dev.bootIndex = d.bootIndex;
    return dev;
  });
}
