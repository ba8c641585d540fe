// Reads a file of a container's root filesystem (its /etc/passwd, /etc/group)
// without following a symlink out of it: an image is untrusted input, and
// `/etc/passwd -> /etc/shadow` must resolve inside the image, not on the host.

import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';

const MAX_LINKS = 40;
const MAX_SIZE = 4 * 1024 * 1024;

/** Resolves `path` inside `root` as the container would see it; null if it does not exist. */
export async function resolveInRoot(root: string, path: string): Promise<string | null> {
  let parts = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return null;
      const target = await readlink(host);
      const rest = target.split('/').filter(Boolean);
      if (target.startsWith('/')) done.length = 0;
      parts = [...rest, ...parts];
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

/** Contents of a regular file inside the rootfs, "" if absent or not a regular file. */
export async function readRootfsFile(root: string, path: string): Promise<string> {
  const p = await resolveInRoot(root, path);
  if (!p) return '';
  try {
    const st = await lstat(p);
    if (!st.isFile() || st.size > MAX_SIZE) return '';
    return await readFile(p, 'utf8');
  } catch {
    return '';
  }
}
