import type { StopPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/StopPodSandboxRequest';
import type { StopPodSandboxResponse } from '../../generated/cri/runtime/v1/StopPodSandboxResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { stopPod } from './pods';
import { locksOf } from './keyed-lock';
import { unlessGone } from './unless-gone';

export function stopPodSandbox(deps: RuntimeDeps): Handler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req, ctx) => {
    const id = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
    // CRI: StopPodSandbox is idempotent and must not fail when the pod is already gone.
    await unlessGone(deps.sandboxes, locksOf(deps).pods, id, 'pod_sandbox_id', (sb) => stopPod(deps, sb, ctx.log));
    return {};
  };
}
