// Reads a file of a container's image (its /etc/passwd, /etc/group) without
// following a symlink out of it and without reading through anything a
// container can write: an image is untrusted input (`/etc/passwd ->
// /etc/shadow` must resolve inside the image, not on the host), and a
// mounted rootfs is writable by its container, in a VM pod by the guest
// through its share, at any moment (a FIFO there would hang the read).

import { readFileInRoot } from '../../host/safe-read';
import { OpaqueCache, readLayerFile, type OpaqueProbe } from '../../image/layer-file';
import { mountedImageLayers } from '../../image/mounted-layers';

/** An image's user database, "" for a file it lacks. */
export interface ImageUserFiles {
  passwd: string;
  group: string;
}

/**
 * Contents of a regular file inside the rootfs, "" if absent or not a
 * regular file. Every component is opened without following symlinks and
 * nothing blocks (readFileInRoot), so a swap mid-read is refused.
 */
export async function readRootfsFile(root: string, path: string): Promise<string> {
  const r = await readFileInRoot(root, path);
  return r.ok ? r.data.toString('utf8') : '';
}

/** The user database of the image made of `layers` (top first), read from the layers themselves. */
async function readLayersUserFiles(layers: readonly string[], opaque: OpaqueProbe): Promise<ImageUserFiles> {
  const read = async (path: string): Promise<string> => {
    const r = await readLayerFile(layers, path, undefined, opaque);
    return r.ok ? r.data.toString('utf8') : '';
  };
  const [passwd, group] = await Promise.all([read('/etc/passwd'), read('/etc/group')]);
  return { passwd, group };
}

/** Layer lists whose files are kept at most: a node runs a handful of base images. */
const CACHED_IMAGES_MAX = 64;
/** A larger pair is read again each time rather than kept (a normal pair is a few KiB). */
const CACHED_PAIR_MAX_BYTES = 256 * 1024;

/**
 * The image's /etc/passwd and /etc/group for a container, from the read-only
 * image layers its overlay is made of, never through the mount (whose upper
 * dir its container or guest writes). Kept per layer list: a layer is a
 * content-addressed snapshot that never changes once unpacked, so what a list
 * of them holds at these paths holds for every container over it. Every
 * CreateContainer used to read both files through every layer, about twenty
 * lstat/open/read round trips through libuv's pool, after reading
 * /proc/self/mountinfo (which grows with every container) to learn the
 * layers. A failed read is not kept. One per controller (per-daemon state).
 */
export class ImageUserFilesCache {
  private readonly pairs = new Map<string, Promise<ImageUserFiles>>();
  private readonly opaque: OpaqueCache;

  /** `probe` answers whether a layer's directory is opaque by xattr (tests inject it). */
  constructor(probe?: OpaqueProbe) {
    this.opaque = new OpaqueCache(probe);
  }

  /**
   * The files for the container whose rootfs is mounted at `rootfs`, over
   * `layers` (absolute, top first) when the caller knows them. Without them
   * the mount table is asked; a rootfs that is not such an overlay (a test's
   * plain dir, or a mount that names its layers relatively) is read in place,
   * still without following or blocking, and not kept.
   */
  async read(rootfs: string, layers?: readonly string[]): Promise<ImageUserFiles> {
    const known = layers && layers.length > 0 && layers.every((l) => l.startsWith('/')) ? layers : await mountedImageLayers(rootfs);
    if (!known) {
      const [passwd, group] = await Promise.all([readRootfsFile(rootfs, '/etc/passwd'), readRootfsFile(rootfs, '/etc/group')]);
      return { passwd, group };
    }
    const key = known.join('\n');
    let p = this.pairs.get(key);
    if (p) {
      // Most recently used last: the first key is the one to evict.
      this.pairs.delete(key);
      this.pairs.set(key, p);
      return p;
    }
    p = readLayersUserFiles(known, this.opaque.ask);
    this.pairs.set(key, p);
    if (this.pairs.size > CACHED_IMAGES_MAX) this.pairs.delete(this.pairs.keys().next().value!);
    p.then(
      (f) => {
        if (f.passwd.length + f.group.length > CACHED_PAIR_MAX_BYTES && this.pairs.get(key) === p) this.pairs.delete(key);
      },
      () => {
        if (this.pairs.get(key) === p) this.pairs.delete(key);
      },
    );
    return p;
  }

  /** Layer lists kept (for tests). */
  get size(): number {
    return this.pairs.size;
  }
}
