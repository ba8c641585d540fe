// An image volume's `image_sub_path`, resolved inside the image's read-only
// view and never outside it. The image is not trusted: a layer may carry a
// symlink such as `data -> /etc` or `data -> ../../..`, and following it with
// the host's path resolution would hand the container a host directory. So
// the path is walked one component at a time with lstat: a symlink's target
// is resolved against the view (as Go's os.OpenInRoot, which containerd
// uses, does), a target that is absolute or climbs above the view is
// refused, and the result names no symlink at all, so the bind mount made
// from it later cannot be redirected. The view is a read-only overlay of
// committed snapshots, so what was checked cannot change before it is bound.

import { InvalidArgumentError } from '../../common/errors';

/** What the walk needs of the filesystem (injected: unit-tested with a fake tree). */
export interface SubPathFs {
  /** undefined when the path does not exist. */
  lstat(path: string): Promise<{ isSymbolicLink(): boolean; isDirectory(): boolean } | undefined>;
  readlink(path: string): Promise<string>;
}

/** Linux's own limit on symlinks followed in one lookup (ELOOP). */
export const MAX_SYMLINKS = 40;

/**
 * Refuse a sub path that is not relative and plain before anything is
 * mounted: kubelet validates subPath the same way (no absolute path, no
 * `..` component). Returns its components ('' and '.' dropped).
 */
export function subPathComponents(subPath: string, field: string): string[] {
  if (subPath.startsWith('/')) throw new InvalidArgumentError(field, `"${subPath}" is absolute; it must be a path relative to the image's root`);
  if (subPath.includes('\0')) throw new InvalidArgumentError(field, 'contains a NUL byte');
  const parts = subPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new InvalidArgumentError(field, `"${subPath}" contains "..": it must stay inside the image`);
  return parts;
}

/**
 * `root` joined with `subPath`, every symlink resolved inside `root`; the
 * result is a directory of the view (containerd too mounts only directory
 * sub paths, per KEP-4639). Refused with INVALID_ARGUMENT naming `field`:
 * a sub path that does not exist in the image, is not a directory, or
 * whose symlinks lead out of the view (or loop).
 */
export async function resolveSubPath(root: string, subPath: string, field: string, image: string, fs: SubPathFs): Promise<string> {
  const pending = subPathComponents(subPath, field);
  const at: string[] = [];
  const here = (): string => (at.length === 0 ? root : `${root}/${at.join('/')}`);
  const escape = (link: string, target: string): InvalidArgumentError =>
    new InvalidArgumentError(field, `"${subPath}" leads out of image ${image}: its symlink /${link} points to "${target}", outside the image; refused`);
  let followed = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.' || name === '') continue;
    if (name === '..') {
      // Only from a symlink target (subPathComponents refused it in the request).
      if (at.length === 0) throw new InvalidArgumentError(field, `"${subPath}" leads out of image ${image} through a symlink to ".." above its root; refused`);
      at.pop();
      continue;
    }
    const path = `${here()}/${name}`;
    const st = await fs.lstat(path);
    if (!st) throw new InvalidArgumentError(field, `"${subPath}" does not exist in image ${image} (/${[...at, name].join('/')} is missing)`);
    if (st.isSymbolicLink()) {
      if (++followed > MAX_SYMLINKS) throw new InvalidArgumentError(field, `"${subPath}" in image ${image}: more than ${MAX_SYMLINKS} symlinks (a loop?); refused`);
      const target = await fs.readlink(path);
      const linkName = [...at, name].join('/');
      if (target.startsWith('/')) throw escape(linkName, target);
      // Climbing above the root through the target is an escape, not a clamp: refuse rather than guess.
      const parts = target.split('/').filter((p) => p !== '' && p !== '.');
      let depth = at.length;
      for (const p of parts) {
        depth += p === '..' ? -1 : 1;
        if (depth < 0) throw escape(linkName, target);
      }
      pending.unshift(...parts);
      continue;
    }
    if (!st.isDirectory()) throw new InvalidArgumentError(field, `"${subPath}" in image ${image}: /${[...at, name].join('/')} is not a directory (image volumes mount directories only)`);
    at.push(name);
  }
  return here();
}
