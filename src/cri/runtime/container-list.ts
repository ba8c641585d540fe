import type { ListContainersRequest__Output } from '../../generated/cri/runtime/v1/ListContainersRequest';
import type { ListContainersResponse } from '../../generated/cri/runtime/v1/ListContainersResponse';
import type { Handler } from '../handler';
import type { RuntimeDeps } from './deps';
import { refresh } from './containers';
import { selectContainers } from './container-select';
import { toCriContainer } from './to-cri';

export function listContainers(deps: RuntimeDeps): Handler<ListContainersRequest__Output, ListContainersResponse> {
  return async (req) => {
    const f = req.filter;
    let items = await Promise.all(selectContainers(deps, f).map((c) => refresh(deps, c)));
    if (f?.state) items = items.filter((c) => c.state === f.state!.state);
    return { containers: items.map(toCriContainer) };
  };
}
