import type { CreateContainerRequest__Output } from '../../generated/cri/runtime/v1/CreateContainerRequest';
import type { CreateContainerResponse } from '../../generated/cri/runtime/v1/CreateContainerResponse';
import type { Handler } from '../handler';
import { requireObject, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { createContainer } from './containers';

export function createContainerHandler(deps: RuntimeDeps): Handler<CreateContainerRequest__Output, CreateContainerResponse> {
  return async (req) => {
    const sb = deps.sandboxes.resolve(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), 'pod_sandbox_id');
    return { container_id: await createContainer(deps, sb, requireObject(req.config, 'config')) };
  };
}
