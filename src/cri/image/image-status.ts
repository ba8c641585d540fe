// ImageStatus: an image that is not present is not an error — CRI answers
// with `image` unset, and kubelet pulls it.

import type { ImageStatusRequest__Output } from '../../generated/cri/runtime/v1/ImageStatusRequest';
import type { ImageStatusResponse } from '../../generated/cri/runtime/v1/ImageStatusResponse';
import type { ImageService } from '../../image';
import type { Handler } from '../handler';
import { imageRefOf } from './image-spec';
import { toCriImage } from './to-cri';

export function imageStatus(service: ImageService, runtimeHandlers?: ReadonlySet<string>): Handler<ImageStatusRequest__Output, ImageStatusResponse> {
  return async (req) => {
    const ref = imageRefOf(req.image, runtimeHandlers);
    const record = service.find(ref);
    if (!record) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) {
      // containerd puts one JSON document under "info"; crictl inspecti prints it.
      info.info = JSON.stringify({
        manifestDigest: record.manifestDigest,
        topDigest: record.topDigest,
        chainIds: record.chainIds,
        layers: record.layers,
        os: record.os,
        architecture: record.architecture,
        created: record.created,
        imageSpec: { config: record.config },
        usedBy: service.usersOf(record.id),
      });
    }
    return { image: toCriImage(record), info };
  };
}
