// The CRI ImageService methods, keyed by RPC name. Registered explicitly by
// the server (src/cri/server.ts); nothing here runs on import.

import type { ImageService } from '../../image';
import type { HandlerTable } from '../handler';
import { imageFsInfo } from './image-fs-info';
import { listImages } from './image-list';
import { pullImage } from './image-pull';
import { removeImage } from './image-remove';
import { imageStatus } from './image-status';

/** `runtimeHandlers`: the node's handler names; an ImageSpec naming another is INVALID_ARGUMENT. */
export function imageHandlers(service: ImageService, runtimeHandlers?: readonly string[]): HandlerTable {
  const known = runtimeHandlers ? new Set(['', ...runtimeHandlers]) : undefined;
  return {
    PullImage: pullImage(service, known),
    ImageStatus: imageStatus(service, known),
    ListImages: listImages(service),
    RemoveImage: removeImage(service, known),
    ImageFsInfo: imageFsInfo(service),
  };
}
