// PullImage: fetch, verify and unpack the image; reply with its id, which is
// what kubelet passes back as the image of CreateContainer.

import type { PullImageRequest__Output } from '../../generated/cri/runtime/v1/PullImageRequest';
import type { PullImageResponse } from '../../generated/cri/runtime/v1/PullImageResponse';
import type { ImageService } from '../../image';
import type { Handler } from '../handler';
import { imageRefOf } from './image-spec';

export function pullImage(service: ImageService, runtimeHandlers?: ReadonlySet<string>): Handler<PullImageRequest__Output, PullImageResponse> {
  return async (req, ctx) => {
    const image = imageRefOf(req.image, runtimeHandlers);
    const t = Date.now();
    const record = await service.pull(image, req.auth, ctx.signal);
    ctx.log.info({ image, imageId: record.id, ms: Date.now() - t }, 'image pulled');
    return { image_ref: record.id };
  };
}
