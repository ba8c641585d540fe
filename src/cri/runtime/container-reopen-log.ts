// ReopenContainerLog: kubelet rotated the log file and asks for a new one.
// Who writes the log differs (conmon for runc, vmpod itself for VM pods), so
// the controller does the reopening.

import type { ReopenContainerLogRequest__Output } from '../../generated/cri/runtime/v1/ReopenContainerLogRequest';
import type { ReopenContainerLogResponse } from '../../generated/cri/runtime/v1/ReopenContainerLogResponse';
import { FailedPreconditionError } from '../../../common/errors';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerHandle, refresh } from './containers';
import { controllerFor, handleOf } from './sandbox-ref';

export function reopenContainerLog(deps: RuntimeDeps): Handler<ReopenContainerLogRequest__Output, ReopenContainerLogResponse> {
  return async (req) => {
    const c = await refresh(deps, deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id'));
    const h = containerHandle(c);
    if (c.state !== 'CONTAINER_RUNNING' || !h) throw new FailedPreconditionError(`container ${c.id} is not running; there is no log to reopen`);
    const sb = deps.sandboxes.resolve(c.podSandboxId);
    await controllerFor(deps, sb).reopenContainerLog(handleOf(sb), h);
    return {};
  };
}
