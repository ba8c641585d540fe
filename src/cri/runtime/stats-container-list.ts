import type { ListContainerStatsRequest__Output } from '../../generated/cri/runtime/v1/ListContainerStatsRequest';
import type { ListContainerStatsResponse } from '../../generated/cri/runtime/v1/ListContainerStatsResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { matchesLabels } from './ids';
import { containerStatsOf } from './stats-common';

export function listContainerStats(deps: RuntimeDeps): Handler<ListContainerStatsRequest__Output, ListContainerStatsResponse> {
  return async (req) => {
    const f = req.filter;
    let items = deps.containers.list().filter((c) => c.runtime !== null);
    if (f?.id) items = items.filter((c) => c.id.startsWith(f.id));
    if (f?.pod_sandbox_id) items = items.filter((c) => c.podSandboxId.startsWith(f.pod_sandbox_id));
    if (f) items = items.filter((c) => matchesLabels(c.config.labels, f.label_selector));
    const stats = await Promise.all(items.map(async (c) => (await containerStatsOf(deps, c)).stats));
    return { stats };
  };
}
