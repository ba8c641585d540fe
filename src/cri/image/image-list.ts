// ListImages, with the CRI filter (an image reference or id).

import type { ListImagesRequest__Output } from '../../generated/cri/runtime/v1/ListImagesRequest';
import type { ListImagesResponse } from '../../generated/cri/runtime/v1/ListImagesResponse';
import type { ImageService } from '../../image';
import type { Handler } from '../handler';
import { toCriImage } from './to-cri';

export function listImages(service: ImageService): Handler<ListImagesRequest__Output, ListImagesResponse> {
  return async (req) => {
    const wanted = req.filter?.image?.image;
    if (wanted) {
      const one = service.find(wanted);
      return { images: one ? [toCriImage(one)] : [] };
    }
    return { images: service.list().map(toCriImage) };
  };
}
