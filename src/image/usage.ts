// Disk usage of a tree as `du -x` counts it: allocated bytes, each inode
// once, not following links and not crossing into other filesystems. The
// trees are the image store's and containers' writable layers, which a
// container (through 9p, a hostile guest) writes: the walk stops counting
// after `maxEntries`, so that kubelet's periodic stats and ImageFsInfo
// cannot be made arbitrarily expensive, and its memory stays bounded too.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface Usage {
  bytes: number;
  inodes: number;
}

/** How many entries one usage walk looks at before it stops counting. */
export const DIR_USAGE_MAX_ENTRIES = 1_000_000;

export async function dirUsage(root: string, maxEntries = DIR_USAGE_MAX_ENTRIES): Promise<Usage> {
  const u: Usage = { bytes: 0, inodes: 0 };
  const top = await lstat(root).catch(() => undefined);
  if (!top) return u;
  // Hard links are counted once; inode numbers are unique within the one filesystem walked.
  const seen = new Set<number>();
  let entries = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st || st.dev !== top.dev) return;
    entries++;
    if (!seen.has(st.ino)) {
      seen.add(st.ino);
      u.inodes++;
      u.bytes += st.blocks * 512;
    }
    if (!st.isDirectory()) return;
    for (const n of await readdir(p).catch(() => [] as string[])) {
      if (entries >= maxEntries) return;
      await walk(join(p, n));
    }
  };
  await walk(root);
  return u;
}
