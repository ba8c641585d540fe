// What a host-side reader finds under a directory a guest could write:
// every entry, symlinks not followed, with the kind and owner lstat gives.
// The hostile-volume tests compare this with what the guest made.

import { lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface LstatEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'block' | 'char' | 'other';
  /** Permission bits including set-id and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
}

/** Every path under `dir`, depth first, not following symlinks. */
export function lstatWalk(dir: string): LstatEntry[] {
  const out: LstatEntry[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = lstatSync(p);
    const kind = s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isFIFO() ? 'fifo' : s.isBlockDevice() ? 'block' : s.isCharacterDevice() ? 'char' : 'other';
    out.push({ path: p, kind, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid });
    if (s.isDirectory()) out.push(...lstatWalk(p));
  }
  return out;
}

/** Every path under `dir` (files, links and directories), relative to it, sorted. */
export function relativeTree(dir: string): string[] {
  return lstatWalk(dir)
    .map((e) => relative(dir, e.path))
    .sort();
}
