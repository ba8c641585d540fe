import type { StartContainerRequest__Output } from '../../generated/cri/runtime/v1/StartContainerRequest';
import type { StartContainerResponse } from '../../generated/cri/runtime/v1/StartContainerResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { startContainer } from './containers';
import { locksOf } from './keyed-lock';

export function startContainerHandler(deps: RuntimeDeps): Handler<StartContainerRequest__Output, StartContainerResponse> {
  return async (req) => {
    const id = deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id').id;
    await locksOf(deps).containers.run(id, () => startContainer(deps, deps.containers.resolve(id)));
    return {};
  };
}
