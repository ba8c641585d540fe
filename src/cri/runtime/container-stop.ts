import type { StopContainerRequest__Output } from '../../generated/cri/runtime/v1/StopContainerRequest';
import type { StopContainerResponse } from '../../generated/cri/runtime/v1/StopContainerResponse';
import type { Handler } from '../handler';
import { int64, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerLog, stopContainerRecord } from './containers';
import { locksOf } from './keyed-lock';
import { unlessGone } from './unless-gone';

export function stopContainerHandler(deps: RuntimeDeps): Handler<StopContainerRequest__Output, StopContainerResponse> {
  return async (req) => {
    const id = requireString(req.container_id, 'container_id');
    const timeoutS = Number(int64(req.timeout || '0', 'timeout'));
    // CRI: StopContainer on a container that is already gone succeeds (idempotent).
    await unlessGone(deps.containers, locksOf(deps).containers, id, 'container_id', (c) => stopContainerRecord(deps, c, timeoutS, containerLog(deps, c)));
    return {};
  };
}
