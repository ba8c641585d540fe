// The image layers a mounted container root filesystem is made of, as the
// kernel records them: the overlay's lowerdir option in /proc/self/mountinfo.
// This lets a controller that only knows a container's rootfs mountpoint read
// the image's files from the read-only layers instead of through the mount,
// whose upper dir the container (or a VM pod's guest, through its share) can
// write.

import { readFile } from 'node:fs/promises';

/** mountinfo's octal escapes (`\040` for a space) undone. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The lowerdirs (top first) of the overlay mounted at `mountpoint`, from the
 * text of a mountinfo file (pure). Undefined when nothing, or not an overlay,
 * is mounted there, or when the option cannot be read as a list of paths
 * (data-only lowers). When mounts are stacked, the last one is what is seen.
 */
export function overlayLowerdirs(mountinfo: string, mountpoint: string): string[] | undefined {
  let found: string[] | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 10 || unescape(fields[4]) !== mountpoint) continue;
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    if (fields[sep + 1] !== 'overlay') {
      found = undefined;
      continue;
    }
    const opt = fields[sep + 3].split(',').find((o) => o.startsWith('lowerdir='));
    const dirs = opt?.slice('lowerdir='.length).split(':').map(unescape);
    found = dirs && dirs.length > 0 && !dirs.includes('') ? dirs : undefined;
  }
  return found;
}

/**
 * The absolute lowerdirs of the overlay at `mountpoint`, or undefined when
 * the kernel's record does not give them: no overlay there, or an image with
 * so many layers that the mount named them relative to the snapshot dir
 * (mountOverlay in snapshots.ts), which this record does not say.
 */
export async function mountedImageLayers(mountpoint: string): Promise<string[] | undefined> {
  const dirs = overlayLowerdirs(await readFile('/proc/self/mountinfo', 'utf8'), mountpoint);
  return dirs?.every((d) => d.startsWith('/')) ? dirs : undefined;
}
