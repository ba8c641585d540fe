// The CRI ImageService methods, keyed by RPC name. Registered explicitly by
// the server (src/cri/server.ts); nothing here runs on import.

import type { ImageService } from '../../image';
import type { HandlerTable } from '../handler';
import { imageFsInfo } from './image-fs-info';
import { listImages } from './image-list';
import { pullImage } from './image-pull';
import { removeImage } from './image-remove';
import { imageStatus } from './image-status';

export function imageHandlers(service: ImageService): HandlerTable {
  return {
    PullImage: pullImage(service),
    ImageStatus: imageStatus(service),
    ListImages: listImages(service),
    RemoveImage: removeImage(service),
    ImageFsInfo: imageFsInfo(service),
  };
}
