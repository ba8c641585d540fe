// CRI file mounts of a VM-image container (ConfigMaps, Secrets, emptyDir,
// hostPath: whatever kubelet gives as a host directory) are exported to the
// guest over 9p, one share per mount, and cloud-init mounts them where the
// pod asked: the cidata disk's vendor-data lists them under `mounts`, which
// cloud-init writes to /etc/fstab (so they come back at every boot). A
// user-data with its own `mounts` replaces the list (cloud-init's merge of
// user-data over vendor-data). kubelet's file mounts (/etc/hosts,
// /dev/termination-log) are files, not directories, and are left out: the
// guest keeps its own.
//
// The tag holds a ':' on purpose: cloud-init's mounts module keeps an
// fs_spec as it is only when it looks like a network source (`^.+:.*`);
// any other name that is not a block device is dropped.

import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Logger } from '../../log';

/** The 9p mount tag of CRI mount `n`. */
export function shareTag(n: number): string {
  return `vmpod:m${n}`;
}

export interface GuestShare {
  tag: string;
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface CriMount {
  host_path: string;
  container_path: string;
  readonly: boolean;
}

/** Why a mount is left out, or undefined when it is shared. Pure but for `isDir`. */
export function shareSkipReason(m: CriMount, isDir: (p: string) => boolean): string | undefined {
  const p = m.container_path;
  if (!posix.isAbsolute(p) || p.split('/').includes('..')) return 'its container path is not absolute or has ".."';
  // fstab fields are separated by blanks; \ escapes are not something cloud-init writes.
  if (/[\s\\]/.test(p)) return 'its container path has a blank or a backslash, which /etc/fstab cannot hold';
  if (posix.normalize(p) === '/') return 'it would cover the guest root';
  if (!m.host_path || !isDir(m.host_path)) return 'its host path is not a directory (file mounts are not exported)';
  return undefined;
}

/** The shares of a container's mounts, tagged by the mount's index (stable for one container config). */
export function planShares(mounts: readonly CriMount[], log: Logger, isDir: (p: string) => boolean = dirExists): GuestShare[] {
  const out: GuestShare[] = [];
  mounts.forEach((m, n) => {
    const why = shareSkipReason(m, isDir);
    if (why) {
      log.debug({ mount: n, containerPath: m.container_path, hostPath: m.host_path }, `CRI mount not exported to the guest: ${why}`);
      return;
    }
    out.push({ tag: shareTag(n), hostPath: m.host_path, containerPath: posix.normalize(m.container_path), readOnly: m.readonly });
  });
  return out;
}

function dirExists(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** The vendor-data that makes cloud-init mount the shares (#cloud-config; the JSON body is YAML). Pure. */
export function vendorData(shares: readonly GuestShare[]): string {
  const mounts = shares.map((s) => [s.tag, s.containerPath, '9p', `trans=virtio,version=9p2000.L,${s.readOnly ? 'ro' : 'rw'},nofail`, '0', '0']);
  return `#cloud-config\n${JSON.stringify(mounts.length > 0 ? { mounts } : {}, null, 2)}\n`;
}
