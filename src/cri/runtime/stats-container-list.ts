import type { ListContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ListContainerStatsRequest';
import type { ListContainerStatsResponse } from '../../generated/cri/runtime/v1/ListContainerStatsResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { selectContainers } from './container-select';
import { containerStatsOf } from './stats-common';

export function listContainerStats(deps: RuntimeDeps): Handler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (req) => {
    const stats = await Promise.all(selectContainers(deps, req.filter).map(async (c) => (await containerStatsOf(deps, c)).stats));
    return { stats };
  };
}
