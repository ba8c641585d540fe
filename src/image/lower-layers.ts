// What the lower snapshots of a layer being unpacked hold at a path, looked
// up component by component with lstat so that nothing on the host is ever
// followed (symlinks are reported, and resolved by the caller inside the image).

import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export type LowerEntry = { kind: 'dir'; stat: Stats } | { kind: 'symlink'; target: string } | { kind: 'other' };

/**
 * What the merged view of the lowers (top first) holds at `parts`, walking
 * each lower component by component with lstat so that nothing on the host
 * is ever followed. A whiteout hides the lowers below it.
 */
export async function lowerEntry(lowers: string[], parts: string[]): Promise<LowerEntry | undefined> {
  for (const lower of lowers) {
    let p = lower;
    let hit: LowerEntry | undefined | 'absent' | 'hidden';
    for (let i = 0; i < parts.length; i++) {
      p = join(p, parts[i]);
      const st = await lstat(p).catch(() => undefined);
      if (!st) {
        hit = 'absent';
        break;
      }
      if (st.isCharacterDevice() && st.rdev === 0) {
        hit = 'hidden';
        break;
      }
      if (i < parts.length - 1) {
        if (!st.isDirectory()) {
          // An intermediate symlink of a lower was already resolved by the caller; anything else ends the path.
          hit = 'hidden';
          break;
        }
        continue;
      }
      hit = st.isDirectory() ? { kind: 'dir', stat: st } : st.isSymbolicLink() ? { kind: 'symlink', target: await readlink(p) } : { kind: 'other' };
    }
    if (hit === 'hidden') return undefined;
    if (hit !== undefined && hit !== 'absent') return hit;
  }
  return undefined;
}

/** The path of a regular file at `parts` in one lower, walking only real directories. */
export async function lowerRegularFile(lower: string, parts: string[]): Promise<string | undefined> {
  let p = lower;
  for (let i = 0; i < parts.length; i++) {
    p = join(p, parts[i]);
    const st = await lstat(p).catch(() => undefined);
    if (!st) return undefined;
    if (i < parts.length - 1 && !st.isDirectory()) return undefined;
    if (i === parts.length - 1) return st.isFile() ? p : undefined;
  }
  return undefined;
}
