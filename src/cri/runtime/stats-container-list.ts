import type { ListContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ListContainerStatsRequest';
import type { ListContainerStatsResponse } from '../../generated/cri/runtime/v1/ListContainerStatsResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { selectContainers } from './container-select';
import { refresh } from './containers';
import { containerStatsOf, eachReadable } from './stats-common';

/** CRI: stats of the running containers that match the filter. */
export function listContainerStats(deps: RuntimeDeps): Handler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (req, ctx) => {
    const running = (await Promise.all(selectContainers(deps, req.filter).map((c) => refresh(deps, c)))).filter((c) => c.state === 'CONTAINER_RUNNING');
    const stats = await eachReadable(running, async (c) => (await containerStatsOf(deps, c)).stats, ctx.log, (c) => ({ containerId: c.id }));
    return { stats };
  };
}
