// ImageFsInfo: bytes and inodes used by images (blobs, snapshots, records)
// and, separately, by container writable layers kept under the image dir.

import type { ImageFsInfoRequest__Output } from '../../generated/cri/runtime/v1/ImageFsInfoRequest';
import type { ImageFsInfoResponse } from '../../generated/cri/runtime/v1/ImageFsInfoResponse';
import type { FilesystemUsage } from '../../generated/cri/runtime/v1/FilesystemUsage';
import type { ImageFsUsage, ImageService } from '../../image';
import type { Handler } from '../handler';
import { nowNs } from '../../../common/time';

function usage(u: ImageFsUsage, nowNs: string): FilesystemUsage {
  return { timestamp: nowNs, fs_id: { mountpoint: u.mountpoint }, used_bytes: { value: String(u.bytes) }, inodes_used: { value: String(u.inodes) } };
}

export function imageFsInfo(service: ImageService): Handler<ImageFsInfoRequest__Output, ImageFsInfoResponse> {
  return async () => {
    const u = await service.fsUsage();
    const now = nowNs();
    return { image_filesystems: [usage(u.images, now)], container_filesystems: [usage(u.containers, now)] };
  };
}
