import type { StopPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/StopPodSandboxRequest';
import type { StopPodSandboxResponse } from '../../generated/cri/runtime/v1/StopPodSandboxResponse';
import { NotFoundError } from '../../errors';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { stopPod } from './pods';
import { locksOf } from './keyed-lock';

export function stopPodSandbox(deps: RuntimeDeps): Handler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req, ctx) => {
    const id = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
    let sb;
    try {
      sb = deps.sandboxes.resolve(id, 'pod_sandbox_id');
    } catch (err) {
      // CRI: StopPodSandbox is idempotent and must not fail when the pod is already gone.
      if (err instanceof NotFoundError) return {};
      throw err;
    }
    await locksOf(deps).pods.run(sb.id, async () => {
      // Removed by a call that held the lock before us: already stopped (CRI: still a success).
      const current = deps.sandboxes.get(sb.id);
      if (current) await stopPod(deps, current, ctx.log);
    });
    return {};
  };
}
