// Image volumes (KEP-4639, CRI `Mount.image`): the pod domain turns each into
// an ordinary read-only bind mount of a host directory before the controller
// sees the container, so both handlers get it with no code of their own: a
// runc container binds the directory, a VM pod binds it into its read-only
// 9p export like any other read-only host path. The directory is a
// read-only view of the image's layers that the image store mounts and
// holds (src/image/service.ts mountVolume); it is released at
// RemoveContainer, when a later create step fails, and by start-up recovery.
//
// Checked as containerd 2.x checks them (internal/cri/server
// container_image_mount.go): host_path must be empty, readonly must be true,
// the image must already be in the store (kubelet pulls it first).

import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig';
import type { Mount__Output } from '../generated/cri/runtime/v1/Mount';
import type { ImageProvider } from './providers';

export interface PlannedVolume {
  index: number;
  imageId: string;
  subPath: string;
}

/** Whether a CRI mount asks for an image volume. */
export function isImageMount(m: Mount__Output): boolean {
  return !!m.image?.image;
}

/**
 * Validate the image mounts of a config and resolve their images, before
 * anything is made. NOT_FOUND names the image and the mount; the image id
 * found is what is mounted later (a tag moved meanwhile changes nothing).
 */
export function planImageVolumes(images: { resolve(ref: string): { id: string } }, mounts: readonly Mount__Output[]): PlannedVolume[] {
  const out: PlannedVolume[] = [];
  mounts.forEach((m, index) => {
    const field = `config.mounts[${index}]`;
    if (!m.image) {
      if (m.image_sub_path) throw new InvalidArgumentError(`${field}.image_sub_path`, 'is set, but the mount is not an image volume (no image)');
      return;
    }
    const ref = m.image.image;
    if (!ref) throw new InvalidArgumentError(`${field}.image.image`, 'an image volume names no image');
    if (m.host_path) throw new InvalidArgumentError(`${field}.host_path`, `must be empty for an image volume (it mounts image "${ref}"), got "${m.host_path}"`);
    if (!m.readonly) throw new InvalidArgumentError(`${field}.readonly`, `an image volume (image "${ref}") is always read-only; set readonly`);
    let imageId: string;
    try {
      imageId = images.resolve(ref).id;
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError('image', ref, `${field} (image volume at ${m.container_path}) needs it; pull it first`);
      throw err;
    }
    out.push({ index, imageId, subPath: m.image_sub_path });
  });
  return out;
}

/**
 * The mounts with each image volume replaced by a read-only bind of its
 * host dir (`hostPaths` by mount index). Propagation is private: nothing is
 * ever mounted below a view, and a VM pod refuses read-only
 * HostToContainer binds (sandbox/microvm/propagation.ts).
 */
export function asBindMounts(mounts: readonly Mount__Output[], hostPaths: ReadonlyMap<number, string>): Mount__Output[] {
  return mounts.map((m, i) => {
    const hostPath = hostPaths.get(i);
    if (hostPath === undefined) return m;
    return { ...m, host_path: hostPath, readonly: true, propagation: 'PROPAGATION_PRIVATE', image: null, image_sub_path: '' };
  });
}

/** What a controller's checkContainer sees before the views exist: image mounts as the read-only binds they become. */
export function checkedConfig(config: ContainerConfig__Output): ContainerConfig__Output {
  // `mounts` may be absent in a config built in code rather than decoded from the wire.
  if (!(config.mounts ?? []).some(isImageMount)) return config;
  const placeholders = new Map(config.mounts.flatMap((m, i) => (isImageMount(m) ? [[i, `<image volume ${m.image!.image}>`] as const] : [])));
  return { ...config, mounts: asBindMounts(config.mounts, placeholders) };
}

/**
 * Mount every planned view; the config the controller gets, with them as
 * read-only binds. All or nothing: when one fails (a sub path refused, the
 * image removed meanwhile), those already mounted are released.
 */
export async function mountImageVolumes(
  images: Pick<ImageProvider, 'mountVolume' | 'releaseVolumes'>,
  containerId: string,
  config: ContainerConfig__Output,
  planned: readonly PlannedVolume[],
): Promise<ContainerConfig__Output> {
  if (planned.length === 0) return config;
  const hostPaths = new Map<number, string>();
  try {
    for (const v of planned) hostPaths.set(v.index, await images.mountVolume(containerId, v.index, v.imageId, v.subPath));
  } catch (err) {
    // A release that fails here leaves a lease no container record names: start-up recovery releases it.
    await images.releaseVolumes(containerId).catch(() => undefined);
    throw err;
  }
  return { ...config, mounts: asBindMounts(config.mounts, hostPaths) };
}
