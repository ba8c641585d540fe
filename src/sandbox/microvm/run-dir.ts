// Making and removing a VM pod's run dir (layout.ts says where it is and why).
// The run dir holds the VM's QMP and agent sockets: whoever can reach them
// controls the VM and talks to its agent. So it and the shared base above it
// must be directories of this daemon's user that nobody else can write, never
// symlinks someone could have planted there before the daemon first ran.

import { chmod, lstat, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FailedPreconditionError } from '../../../common/errors';
import type { Hypervisor } from '../../hypervisor';
import type { VmRunPaths } from './layout';

/**
 * `dir` exists as a real directory owned by us with exactly `mode`; one that
 * is a symlink or another user's is refused (they could redirect or read
 * the sockets).
 */
async function ensureOwnDir(dir: string, mode: number): Promise<void> {
  try {
    await mkdir(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await lstat(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new FailedPreconditionError(
      `${dir} is ${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? `a directory of uid ${st.uid}` : 'not a directory'}; VM run dirs must be in a directory of uid ${uid} that nobody else can write: remove it and retry`,
    );
  }
  if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
}

/** Create the run dir (root, 0700) under its base, and the link to it from the state dir. */
export async function makeVmRunDir(run: VmRunPaths): Promise<void> {
  const base = dirname(run.dir);
  // The base's parent (/run/vmpod) is also the default home of the CRI socket; only made if missing, as the daemon makes it.
  await mkdir(dirname(base), { recursive: true, mode: 0o711 });
  await ensureOwnDir(base, 0o700);
  await ensureOwnDir(run.dir, 0o700);
  await mkdir(dirname(run.stateLink), { recursive: true, mode: 0o700 });
  // A leftover of an interrupted create of the same id: a link (or, from the previous layout, a run dir whose VM is gone).
  await rm(run.stateLink, { recursive: true, force: true });
  await symlink(run.dir, run.stateLink);
}

/**
 * Kill the pod's QEMU if it still runs and remove its run dir and the link,
 * in either layout: the link (or a previous layout's run dir) after the run
 * dir, so that it is dangling by then. Idempotent.
 */
export async function removeVmRunDir(hypervisor: Hypervisor, run: VmRunPaths): Promise<void> {
  await hypervisor.destroy(run.dir);
  await hypervisor.destroy(run.stateLink);
}
