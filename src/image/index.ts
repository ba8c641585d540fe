// Public surface of the image subsystem for the CRI handlers, the runc path
// and the VM path. See docs/images.md.

export { createImageService, ImageService, type ImageServiceOptions, type ImageFsUsage } from './service';
export type { ImageRecord, RootfsLease } from './image-store';
export type { ImageRuntimeConfig } from './image-config';
export { userOf } from './image-config';
export type { RootfsLayout } from './snapshots';
export { overlayOptions } from './snapshots';
export type { CriAuthConfig } from './auth';
export { parseReference, formatReference, type ImageReference } from './reference';
export { checkImageHost, type HostRequirement } from './host-check';
