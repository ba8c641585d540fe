import type { ExecSyncRequest__Output } from '../../generated/cri/runtime/v1/ExecSyncRequest';
import type { ExecSyncResponse } from '../../generated/cri/runtime/v1/ExecSyncResponse';
import { FailedPreconditionError, InvalidArgumentError } from '../../../common/errors';
import type { Handler } from '../handler';
import { int64, requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { containerHandle, refresh } from './containers';
import { controllerFor, handleOf } from './sandbox-ref';

export function execSyncHandler(deps: RuntimeDeps): Handler<ExecSyncRequest__Output, ExecSyncResponse> {
  return async (req) => {
    // The whole request is validated before anything is looked up, so a bad one is INVALID_ARGUMENT whatever it names.
    const id = requireString(req.container_id, 'container_id');
    if (req.cmd.length === 0) throw new InvalidArgumentError('cmd', 'is required');
    const timeoutS = Number(int64(req.timeout || '0', 'timeout'));
    const c = await refresh(deps, deps.containers.resolve(id, 'container_id'));
    const h = containerHandle(c);
    if (c.state !== 'CONTAINER_RUNNING' || !h) throw new FailedPreconditionError(`container ${c.id} is not running (${c.state}); cannot exec in it`);
    const sb = deps.sandboxes.resolve(c.podSandboxId);
    const r = await controllerFor(deps, sb).execSync(handleOf(sb), h, req.cmd, timeoutS);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
}
