// RemoveImage by id, tag or digest. CRI idempotency rule: removing an image
// that does not exist succeeds. Snapshots still used by containers stay
// until those containers release their root filesystems.

import type { RemoveImageRequest__Output } from '../../generated/cri/runtime/v1/RemoveImageRequest';
import type { RemoveImageResponse } from '../../generated/cri/runtime/v1/RemoveImageResponse';
import type { ImageService } from '../../image';
import type { Handler } from '../handler';
import { requireObject, requireString } from '../validate';

export function removeImage(service: ImageService): Handler<RemoveImageRequest__Output, RemoveImageResponse> {
  return async (req, ctx) => {
    const ref = requireString(requireObject(req.image, 'image').image, 'image.image');
    const removed = await service.remove(ref);
    ctx.log.info({ image: ref, removed }, removed ? 'image removed' : 'image already absent');
    return {};
  };
}
