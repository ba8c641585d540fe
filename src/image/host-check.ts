// What the image service needs from the host, for `vmpod check` and for a
// clear start-up message: each missing piece named with its Debian package.

import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';

export interface HostRequirement {
  what: string;
  ok: boolean;
  /** Why it is needed and how to get it, when missing. */
  hint: string;
}

const TOOLS: { bin: string; why: string; pkg: string }[] = [
  { bin: 'zstd', why: 'zstd-compressed layers', pkg: 'zstd' },
  { bin: 'setfattr', why: 'opaque directories and xattrs in layers', pkg: 'attr' },
  { bin: 'mknod', why: 'whiteouts and device nodes in layers', pkg: 'coreutils' },
  { bin: 'mount', why: 'container root filesystems (overlayfs)', pkg: 'mount' },
  { bin: 'umount', why: 'container root filesystems (overlayfs)', pkg: 'mount' },
];

async function onPath(bin: string): Promise<boolean> {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    try {
      await access(`${dir}/${bin}`, constants.X_OK);
      return true;
    } catch {
      // try the next dir
    }
  }
  return false;
}

export async function checkImageHost(): Promise<HostRequirement[]> {
  const out: HostRequirement[] = [];
  for (const t of TOOLS) {
    const ok = await onPath(t.bin);
    out.push({ what: t.bin, ok, hint: ok ? '' : `needed for ${t.why}: install the Debian package ${t.pkg}` });
  }
  const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const overlay = /\toverlay$/m.test(fs);
  out.push({ what: 'overlayfs', ok: overlay, hint: overlay ? '' : 'the kernel lacks overlayfs: modprobe overlay' });
  return out;
}
