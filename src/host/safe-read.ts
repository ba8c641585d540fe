// Reading a file whose path someone else can write: a guest (through its 9p
// share) or an image (its layers). Such a path may be swapped at any moment
// for a FIFO (a read of it would hold a libuv threadpool thread forever; four
// of them stop every fs call of the daemon), a device (/dev/zero: an endless
// read) or a symlink (to a host file). So every open here is
// O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, the fd is fstat'ed, only a regular
// file of at most `maxBytes` is read, and it is read from that fd, never
// opened again by name.
//
// An lstat comes first so that a special file is refused without being
// opened at all (opening some devices acts: a watchdog arms); the fstat
// after the open is what decides, since the name may change in between.

import { constants } from 'node:fs';
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises';

/** What the daemon reads of one image or rootfs file at most (passwd, group). */
export const SAFE_READ_MAX_BYTES = 4 * 1024 * 1024;

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = constants;
export const SAFE_OPEN_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
const DIR_OPEN_FLAGS = SAFE_OPEN_FLAGS | O_DIRECTORY;
const MAX_LINKS = 40;

export type SafeRead = { ok: true; data: Buffer } | { ok: false; reason: 'absent' | 'not-regular' | 'too-large' | 'symlink' | 'loop' };

/** Reads the regular file at `path`, following no symlink in its last component and blocking on nothing. */
export async function readRegularFile(path: string, maxBytes = SAFE_READ_MAX_BYTES): Promise<SafeRead> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return { ok: false, reason: 'absent' };
  if (st.isSymbolicLink()) return { ok: false, reason: 'symlink' };
  if (!st.isFile()) return { ok: false, reason: 'not-regular' };
  let fh: FileHandle;
  try {
    fh = await open(path, SAFE_OPEN_FLAGS);
  } catch (err) {
    // ELOOP: it became a symlink since the lstat.
    return { ok: false, reason: (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'symlink' : 'absent' };
  }
  try {
    return await readOpened(fh, maxBytes);
  } finally {
    await fh.close();
  }
}

/**
 * Reads `path` as a process chrooted at `root` would see it: symlinks
 * resolve inside `root`, `..` stops there, and every component is opened
 * relative to the fd of its parent (through /proc/self/fd, Node having no
 * openat), so a directory swapped for a symlink mid-walk is refused
 * (O_NOFOLLOW) instead of followed out of `root`.
 */
export async function readFileInRoot(root: string, path: string, maxBytes = SAFE_READ_MAX_BYTES): Promise<SafeRead> {
  const dirs: FileHandle[] = [];
  try {
    dirs.push(await open(root, DIR_OPEN_FLAGS & ~O_NOFOLLOW));
    let parts = components(path);
    let links = 0;
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === '..') {
        if (dirs.length > 1) await dirs.pop()!.close();
        continue;
      }
      const at = `/proc/self/fd/${dirs[dirs.length - 1].fd}/${part}`;
      const st = await lstat(at).catch(() => undefined);
      if (!st) return { ok: false, reason: 'absent' };
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) return { ok: false, reason: 'loop' };
        const target = await readlink(at).catch(() => undefined);
        if (target === undefined) return { ok: false, reason: 'absent' };
        if (target.startsWith('/')) while (dirs.length > 1) await dirs.pop()!.close();
        parts = [...components(target), ...parts];
        continue;
      }
      if (parts.length === 0) {
        if (!st.isFile()) return { ok: false, reason: 'not-regular' };
        let fh: FileHandle;
        try {
          fh = await open(at, SAFE_OPEN_FLAGS);
        } catch {
          return { ok: false, reason: 'absent' };
        }
        try {
          return await readOpened(fh, maxBytes);
        } finally {
          await fh.close();
        }
      }
      if (!st.isDirectory()) return { ok: false, reason: 'absent' };
      try {
        dirs.push(await open(at, DIR_OPEN_FLAGS));
      } catch {
        // ENOTDIR or ELOOP: swapped since the lstat.
        return { ok: false, reason: 'absent' };
      }
    }
    return { ok: false, reason: 'not-regular' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return { ok: false, reason: 'absent' };
    throw err;
  } finally {
    await Promise.all(dirs.map((d) => d.close()));
  }
}

/** The fd decides: a regular file no larger than the cap, read to its end (or the cap, if it grows meanwhile). */
async function readOpened(fh: FileHandle, maxBytes: number): Promise<SafeRead> {
  const st = await fh.stat();
  if (!st.isFile()) return { ok: false, reason: 'not-regular' };
  if (st.size > maxBytes) return { ok: false, reason: 'too-large' };
  // One byte more than allowed, to notice a file that grew past the cap after the fstat.
  const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  if (n > maxBytes) return { ok: false, reason: 'too-large' };
  return { ok: true, data: buf.subarray(0, n) };
}

/** Not normalised: a `..` of a relative symlink target must climb from the link's own directory. */
function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}
