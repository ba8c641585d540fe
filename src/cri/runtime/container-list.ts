import type { ListContainersRequest__Output } from '../../generated/cri/runtime/v1/ListContainersRequest';
import type { ListContainersResponse } from '../../generated/cri/runtime/v1/ListContainersResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { refresh } from './containers';
import { matchesLabels } from './ids';
import { toCriContainer } from './to-cri';

export function listContainers(deps: RuntimeDeps): Handler<ListContainersRequest__Output, ListContainersResponse> {
  return async (req) => {
    const f = req.filter;
    // Records still being created have no runtime yet; they are not listed.
    let items = deps.containers.list().filter((c) => c.runtime !== null);
    if (f?.id) items = items.filter((c) => c.id.startsWith(f.id));
    if (f?.pod_sandbox_id) items = items.filter((c) => c.podSandboxId.startsWith(f.pod_sandbox_id));
    if (f) items = items.filter((c) => matchesLabels(c.config.labels, f.label_selector));
    items = await Promise.all(items.map((c) => refresh(deps, c)));
    if (f?.state) items = items.filter((c) => c.state === f.state!.state);
    return { containers: items.map(toCriContainer) };
  };
}
