// What one pull may cost the node. A registry or an image is untrusted: only
// the compressed sizes are known before the download, and a small layer can
// expand to fill the disk. Past a limit the pull fails with
// RESOURCE_EXHAUSTED and what it unpacked is removed.

export interface ImageLimits {
  /** Uncompressed bytes of one layer. */
  layerBytes: number;
  /** Uncompressed bytes of all layers a pull unpacks. */
  imageBytes: number;
  /** Entries (files, directories, links, ...) of one layer. */
  layerEntries: number;
  /** An unpack stops when the image filesystem has less free space than this. */
  freeFloorBytes: number;
}

const GiB = 1024 ** 3;

/**
 * Defaults generous enough for any real image (the largest common images,
 * CUDA and ML runtimes, are 10-20 GiB unpacked) and small enough that one
 * hostile layer cannot take the node's disk.
 */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { layerBytes: 32 * GiB, imageBytes: 64 * GiB, layerEntries: 2_000_000, freeFloorBytes: 1 * GiB };
