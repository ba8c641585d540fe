// Disk usage of a tree as `du` counts it: allocated bytes, each inode once.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface Usage {
  bytes: number;
  inodes: number;
}

export async function dirUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  const u: Usage = { bytes: 0, inodes: 0 };
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      u.inodes++;
      u.bytes += st.blocks * 512;
    }
    if (st.isDirectory()) {
      const names = await readdir(p).catch(() => [] as string[]);
      for (const n of names) await walk(join(p, n));
    }
  };
  await walk(root);
  return u;
}
