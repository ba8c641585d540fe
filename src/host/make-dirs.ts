// `mkdir -p` whose failure carries the kernel's errno. Node 20's asynchronous
// mkdir with `recursive: true` reports ENOENT when a component could not be
// made for another reason: on a full filesystem (ENOSPC, out of blocks or
// inodes) it says "no such file or directory", and the caller cannot tell the
// client that the disk is full (issue 16, found by test/fault/disk-full).

import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes `path` and any missing parents with `mode` (before the umask); an existing directory is fine. */
export async function makeDirs(path: string, mode = 0o777): Promise<void> {
  try {
    await mkdir(path, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDir(path, err);
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
  }
  // A parent is missing: make it (and its own), then this one. Another caller
  // may make the same directories meanwhile, hence EEXIST is success here too.
  await makeDirs(dirname(path), mode);
  try {
    await mkdir(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return existingDir(path, err);
    throw err;
  }
}

/** EEXIST is success only for a directory (a file there is the caller's error, as with `mkdir -p`). */
async function existingDir(path: string, err: unknown): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isDirectory()) throw err;
}

/**
 * makeDirs for a few directories on the event loop (mkdir(2) of an existing
 * or small tree returns in microseconds; each asynchronous mkdir and stat is
 * a round trip through libuv's pool, which waits behind whatever else is
 * queued there). Same rules and errors.
 */
export function makeDirsSync(path: string, mode = 0o777): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existingDirSync(path, err);
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
  }
  makeDirsSync(dirname(path), mode);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return existingDirSync(path, err);
    throw err;
  }
}

function existingDirSync(path: string, err: unknown): void {
  let dir = false;
  try {
    dir = statSync(path).isDirectory();
  } catch {
    // gone or unreadable: not a directory here
  }
  if (!dir) throw err;
}
