// CRI devices of a VM-image container (kubelet's block-mode PVCs: a host
// block device and the path the pod asked for it at) become extra virtio-blk
// disks. The guest finds each by its serial, /dev/disk/by-id/virtio-<serial>,
// named after the path the pod asked for: stable across restarts and
// reboots, whatever order the disks come in.

import { realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../../common/errors';
import type { Device__Output } from '../../generated/cri/runtime/v1/Device';

/** virtio-blk serials hold at most 20 bytes. */
export const MAX_SERIAL = 20;

export interface BlockDisk {
  /** The serial (also the VM's disk id). */
  serial: string;
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/**
 * A serial for the device the pod asked for at `containerPath`: the path
 * without /dev/, every other character than [A-Za-z0-9_-] as "-"; one that
 * is too long, or taken, gets a short hash of the whole path instead of its
 * tail. Pure.
 */
export function deviceSerial(containerPath: string, taken: ReadonlySet<string>): string {
  const plain = containerPath
    .replace(/^\/dev\//, '')
    .replace(/^\/+/, '')
    .replace(/[^A-Za-z0-9_-]/g, '-');
  if (plain !== '' && plain.length <= MAX_SERIAL && !taken.has(plain)) return plain;
  const hash = createHash('sha256').update(containerPath).digest('hex').slice(0, 8);
  return `${plain.slice(0, MAX_SERIAL - 9)}-${hash}`.replace(/^-/, 'd');
}

/** The container's devices as disks: each must be a host block device; serials unique and clear of `reserved`. */
export function blockDisks(devices: readonly Device__Output[], reserved: readonly string[], containerName: string): BlockDisk[] {
  const taken = new Set(reserved);
  return devices.map((d, i) => {
    const field = `container "${containerName}": devices[${i}]`;
    if (!d.host_path || !d.container_path) throw new InvalidArgumentError(field, 'needs host_path and container_path');
    const st = statSync(d.host_path, { throwIfNoEntry: false });
    if (!st) throw new InvalidArgumentError(field, `${d.host_path}: ENOENT (no such device on the host)`);
    if (!st.isBlockDevice()) throw new InvalidArgumentError(field, `${d.host_path} is not a block device; a VM-image pod takes only block devices (block-mode volumes)`);
    const serial = deviceSerial(d.container_path, taken);
    taken.add(serial);
    // kubelet may name the device by a link (/dev/disk/by-id/...); the hypervisor opens disks without following links.
    return { serial, hostPath: realpathSync(d.host_path), containerPath: d.container_path, readOnly: !(d.permissions ?? '').includes('w') };
  });
}
