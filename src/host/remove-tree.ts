// Deleting a directory tree that a container wrote. A container (or a guest,
// through 9p) can build a tree deeper than PATH_MAX; Node's fs.rm walks it by
// full path and fails with ENAMETOOLONG, which left the container, and with it
// its pod, impossible to remove. GNU rm walks with openat() relative to each
// directory, so depth does not matter; it is the fallback, not the default,
// because fs.rm needs no child process for the common case.

import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * `rm -rf path`, whatever its depth. Idempotent. Never crosses into another
 * filesystem in the fallback (a mount left inside the tree is not followed).
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    await run('rm', ['-rf', '--one-file-system', '--', path], { timeout: 10 * 60_000 });
  }
}
