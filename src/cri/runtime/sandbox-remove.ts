import type { RemovePodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RemovePodSandboxRequest';
import type { RemovePodSandboxResponse } from '../../generated/cri/runtime/v1/RemovePodSandboxResponse';
import { NotFoundError } from '../../errors';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { removePod } from './pods';
import { locksOf } from './keyed-lock';

export function removePodSandbox(deps: RuntimeDeps): Handler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (req, ctx) => {
    const id = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
    let sb;
    try {
      sb = deps.sandboxes.resolve(id, 'pod_sandbox_id');
    } catch (err) {
      // CRI: RemovePodSandbox must not return an error if the sandbox has already been removed.
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await locksOf(deps).pods.run(sb.id, async () => {
      // Removed by a call that held the lock before us: nothing left to do.
      const current = deps.sandboxes.get(sb.id);
      if (current) await removePod(deps, current, ctx.log);
    });
    return {};
  };
}
