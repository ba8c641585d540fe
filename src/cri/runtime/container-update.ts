import type { UpdateContainerResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdateContainerResourcesRequest';
import type { UpdateContainerResourcesResponse } from '../../generated/cri/runtime/v1/UpdateContainerResourcesResponse';
import { FailedPreconditionError } from '../../../common/errors';
import type { Handler } from '../handler';
import { requireObject, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerHandle, containerLog, refresh } from './containers';
import { controllerFor, handleOf } from './sandbox-ref';

export function updateContainerResources(deps: RuntimeDeps): Handler<UpdateContainerResourcesRequest__Output, UpdateContainerResourcesResponse> {
  return async (req) => {
    const c = await refresh(deps, deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id'));
    const linux = requireObject(req.linux, 'linux');
    const sb = deps.sandboxes.resolve(c.podSandboxId);
    const h = containerHandle(c);
    if (c.state === 'CONTAINER_EXITED' || !h) throw new FailedPreconditionError(`container ${c.id} is not running; its resources cannot be updated`);
    await controllerFor(deps, sb).updateContainer(handleOf(sb), h, linux);
    deps.containers.update(c.id, (r) => ({ ...r, resources: linux }));
    containerLog(deps, c).info({ resources: linux }, 'container resources updated');
    return {};
  };
}
