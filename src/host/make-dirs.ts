// `mkdir -p` whose failure carries the kernel's errno. Node 20's asynchronous
// mkdir with `recursive: true` reports ENOENT when a component could not be
// made for another reason: on a full filesystem (ENOSPC, out of blocks or
// inodes) it says "no such file or directory", and the caller cannot tell the
// client that the disk is full (issue 16, found by test/fault/disk-full).

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
