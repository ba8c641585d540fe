// Reads a file of a container's image (its /etc/passwd, /etc/group) without
// following a symlink out of it and without reading through anything a
// container can write: an image is untrusted input (`/etc/passwd ->
// /etc/shadow` must resolve inside the image, not on the host), and a
// mounted rootfs is writable by its container, in a VM pod by the guest
// through its share, at any moment (a FIFO there would hang the read).

import { readFileInRoot } from '../../host/safe-read';
import { readLayerFile, type OpaqueProbe } from '../../image/layer-file';
import { mountedImageLayers } from '../../image/mounted-layers';

/**
 * Contents of a regular file inside the rootfs, "" if absent or not a
 * regular file. Every component is opened without following symlinks and
 * nothing blocks (readFileInRoot), so a swap mid-read is refused.
 */
export async function readRootfsFile(root: string, path: string): Promise<string> {
  const r = await readFileInRoot(root, path);
  return r.ok ? r.data.toString('utf8') : '';
}

/**
 * The image's /etc/passwd and /etc/group for the container whose rootfs is
 * mounted at `rootfs`: from the read-only image layers the overlay is made
 * of, never through the mount (whose upper dir its container or guest
 * writes). A rootfs that is not such an overlay (a test's plain dir, or an
 * image whose layers the mount table names relatively) is read in place,
 * still without following or blocking. `opaque` answers whether a layer's
 * directory is opaque (the controller's OpaqueCache).
 */
export async function readImageUserFiles(rootfs: string, opaque?: OpaqueProbe): Promise<{ passwd: string; group: string }> {
  const layers = await mountedImageLayers(rootfs);
  const read = async (path: string): Promise<string> => {
    if (!layers) return readRootfsFile(rootfs, path);
    const r = await readLayerFile(layers, path, undefined, opaque);
    return r.ok ? r.data.toString('utf8') : '';
  };
  const [passwd, group] = await Promise.all([read('/etc/passwd'), read('/etc/group')]);
  return { passwd, group };
}
