// ImageRecord → CRI Image message (pure).

import type { Image } from '../../generated/cri/runtime/v1/Image';
import { userOf, type ImageRecord } from '../../image';

export function toCriImage(r: ImageRecord): Image {
  const user = userOf(r.config.User);
  return {
    id: r.id,
    repo_tags: [...r.repoTags],
    repo_digests: [...r.repoDigests],
    size: String(r.size),
    uid: user.uid !== undefined ? { value: user.uid } : null,
    username: user.username,
    spec: { image: r.id, annotations: {} },
    pinned: r.pinned,
  };
}
