import type { ListPodSandboxStatsRequest__Output } from '../../generated/cri/runtime/v1/ListPodSandboxStatsRequest';
import type { ListPodSandboxStatsResponse } from '../../generated/cri/runtime/v1/ListPodSandboxStatsResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { matchesLabels } from './ids';
import { podStatsOf } from './stats-pod';
import { eachReadable } from './stats-common';

export function listPodSandboxStats(deps: RuntimeDeps): Handler<ListPodSandboxStatsRequest__Output, ListPodSandboxStatsResponse> {
  return async (req, ctx) => {
    const f = req.filter;
    let items = deps.sandboxes.list().filter((s) => !s.creating);
    if (f?.id) items = items.filter((s) => s.id.startsWith(f.id));
    if (f) items = items.filter((s) => matchesLabels(s.config.labels, f.label_selector));
    return { stats: await eachReadable(items, (s) => podStatsOf(deps, s, ctx.log), ctx.log, (s) => ({ podSandboxId: s.id })) };
  };
}
