import type { RemoveContainerRequest__Output } from '../../generated/cri/runtime/v1/RemoveContainerRequest';
import type { RemoveContainerResponse } from '../../generated/cri/runtime/v1/RemoveContainerResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerLog, removeContainerRecord } from './containers';
import { locksOf } from './keyed-lock';
import { unlessGone } from './unless-gone';

export function removeContainerHandler(deps: RuntimeDeps): Handler<RemoveContainerRequest__Output, RemoveContainerResponse> {
  return async (req) => {
    const id = requireString(req.container_id, 'container_id');
    // CRI: RemoveContainer must not return an error if the container has already been removed.
    await unlessGone(deps.containers, locksOf(deps).containers, id, 'container_id', (c) => removeContainerRecord(deps, c, containerLog(deps, c)));
    return {};
  };
}
