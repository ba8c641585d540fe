import type { ContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ContainerStatsRequest';
import type { ContainerStatsResponse } from '../../generated/cri/runtime/v1/ContainerStatsResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerStatsOf } from './stats-common';

export function containerStatsHandler(deps: RuntimeDeps): Handler<ContainerStatsRequest__Output, ContainerStatsResponse> {
  return async (req) => {
    const c = deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id');
    return { stats: (await containerStatsOf(deps, c)).stats };
  };
}
