// The read-only view of an image that an image volume (KEP-4639) mounts: an
// overlayfs of the image's snapshots with lowerdirs only. With no upper dir
// overlayfs has nowhere to write, so the view is read-only by construction
// (not only by a mount flag a container could try to remount), and the
// committed snapshots under it, shared with every container built from the
// same layers, cannot be changed through it. overlayfs wants two lowerdirs
// when there is no upper one: a one-layer image gets an empty directory
// under its layer.

import { InternalError } from '../../common/errors';
import { isMountpoint, MOUNT_OPTIONS_MAX, mountOverlayWith, type SnapshotStore } from './snapshots';
import { makeDirs } from '../host/make-dirs';

/** `ro,nodev,lowerdir=…`: top layer first, the empty dir under a lone layer (pure). */
export function viewOptions(lowerdirs: readonly string[], emptyDir: string): string {
  const dirs = lowerdirs.length === 1 ? [...lowerdirs, emptyDir] : [...lowerdirs];
  if (dirs.length < 2) throw new InternalError('an image volume needs an image with at least one layer');
  for (const p of dirs) {
    if (/[,:\\]/.test(p)) throw new InternalError(`overlay path ${p} contains a character (, : \\) that overlayfs options cannot carry`);
  }
  // nodev: a device node in a hostile layer opens nothing through the view.
  return `ro,nodev,lowerdir=${dirs.join(':')}`;
}

/**
 * Mount the view of `lowerdirs` (snapshot `fs` dirs, top first) at
 * `mountpoint`; idempotent. Options too long for one page use the
 * snapshot store's short links, relative to its dir.
 */
export async function mountView(lowerdirs: readonly string[], mountpoint: string, emptyDir: string, snapshots: SnapshotStore): Promise<void> {
  await makeDirs(mountpoint, 0o755);
  if (await isMountpoint(mountpoint)) return;
  let options = viewOptions(lowerdirs, emptyDir);
  let cwd: string | undefined;
  if (options.length > MOUNT_OPTIONS_MAX) {
    const links: string[] = [];
    for (const d of lowerdirs) links.push(await snapshots.shortLink(d));
    options = viewOptions(links, emptyDir);
    cwd = snapshots.dir;
  }
  if (options.length > MOUNT_OPTIONS_MAX) throw new InternalError(`the image has too many layers (${lowerdirs.length}) for one overlayfs mount`);
  await mountOverlayWith(options, mountpoint, cwd, 'the image volume view');
}
