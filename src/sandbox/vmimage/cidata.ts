// The cloud-init NoCloud disk of a VM-image pod: an ISO 9660 image with
// volume id `cidata` holding meta-data, user-data, network-config and
// vendor-data
// (cloud-init.ts says what they contain), built with genisoimage from a
// fresh directory in the pod's host-only dir and attached read-only. The
// user-data a pod names by path is read inside the CRI mount holding it, as
// if chrooted there: a symlink in the volume resolves inside it (kubelet's
// Secret layout is made of them) and never reaches a host file.

import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { readFileInRoot } from '../../host/safe-read';
import { runOk } from '../../network/run';
import { DEFAULT_USER_DATA, mountHolding, type MountRef, type UserDataSource } from './cloud-init';

/** The NoCloud volume label cloud-init looks for. */
export const CIDATA_VOLUME_ID = 'cidata';

export interface CidataFiles {
  metaData: string;
  userData: string;
  networkConfig: string;
  /** cloud-config under the user-data (mounts.ts: the 9p shares); absent: no vendor-data file. */
  vendorData?: string;
}

/** The user-data text from its source: the annotation's text, the file in a mount, or the minimal default; at most `maxBytes`. */
export async function resolveUserData(src: UserDataSource, mounts: readonly MountRef[], maxBytes: number, containerId: string): Promise<string> {
  if (src.kind === 'default') return DEFAULT_USER_DATA;
  if (src.kind === 'inline') {
    if (Buffer.byteLength(src.text) > maxBytes)
      throw new InvalidArgumentError(src.from, `the user-data is ${Buffer.byteLength(src.text)} bytes, more than the handler's max_user_data_bytes (${maxBytes})`);
    return src.text;
  }
  const held = mountHolding(src.containerPath, mounts);
  if (!held) throw new InvalidArgumentError(src.from, `${src.containerPath} is not inside any mount of container ${containerId}; mount the Secret holding the user-data and name a file in it`);
  const r = await readFileInRoot(held.mount.host_path, held.rel, maxBytes);
  if (!r.ok) {
    const why = {
      absent: 'does not exist',
      'not-regular': 'is not a regular file',
      'too-large': `is larger than the handler's max_user_data_bytes (${maxBytes})`,
      symlink: 'is a symlink out of its mount',
      loop: 'is a symlink loop',
    }[r.reason];
    throw new InvalidArgumentError(src.from, `${src.containerPath} (in the mount of ${held.mount.host_path}) ${why}`);
  }
  return r.data.toString('utf8');
}

/**
 * Build the cidata ISO at `target` (replacing one there) from a fresh
 * directory under `podDir`: new files only (O_EXCL), so nothing already
 * there, a symlink included, is ever written through.
 */
export async function writeCidataIso(podDir: string, target: string, files: CidataFiles): Promise<void> {
  const dir = await mkdtemp(join(podDir, 'cidata-'));
  try {
    const names: Record<string, string> = { 'meta-data': files.metaData, 'user-data': files.userData, 'network-config': files.networkConfig };
    if (files.vendorData !== undefined) names['vendor-data'] = files.vendorData;
    for (const [name, text] of Object.entries(names)) await writeFile(join(dir, name), text, { mode: 0o600, flag: 'wx' });
    const iso = join(dir, 'cidata.iso');
    await runOk('build the cloud-init cidata disk', ['genisoimage', '-quiet', '-output', iso, '-volid', CIDATA_VOLUME_ID, '-joliet', '-rock', ...Object.keys(names).map((n) => join(dir, n))]);
    await rename(iso, target);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
