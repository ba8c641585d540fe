import type { CreateContainerRequest__Output } from '../../generated/cri/runtime/v1/CreateContainerRequest';
import type { CreateContainerResponse } from '../../generated/cri/runtime/v1/CreateContainerResponse';
import type { Handler } from '../handler';
import { requireObject, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { createContainer } from './containers';
import { locksOf } from './keyed-lock';

export function createContainerHandler(deps: RuntimeDeps): Handler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (req) => {
    const sb = deps.sandboxes.resolve(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), 'pod_sandbox_id');
    const config = requireObject(req.config, 'config');
    // Under the pod's lock so that a concurrent StopPodSandbox cannot miss the new container.
    return { container_id: await locksOf(deps).pods.run(sb.id, () => createContainer(deps, deps.sandboxes.resolve(sb.id), config)) };
  };
}
