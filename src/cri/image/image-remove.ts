// RemoveImage by id, tag or digest. CRI idempotency rule: removing an image
// that does not exist succeeds. Snapshots still used by containers stay
// until those containers release their root filesystems.

import type { RemoveImageRequest__Output } from '../../generated/cri/runtime/v1/RemoveImageRequest';
import type { RemoveImageResponse } from '../../generated/cri/runtime/v1/RemoveImageResponse';
import type { ImageService } from '../../image';
import type { Handler } from '../handler';
import { imageRefOf } from './image-spec';

export function removeImage(service: ImageService, runtimeHandlers?: ReadonlySet<string>): Handler<RemoveImageRequest__Output, RemoveImageResponse> {
  return async (req, ctx) => {
    const ref = imageRefOf(req.image, runtimeHandlers);
    const removed = await service.remove(ref);
    ctx.log.info({ image: ref, removed }, removed ? 'image removed' : 'image already absent');
    return {};
  };
}
