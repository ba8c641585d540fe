import type { RemovePodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RemovePodSandboxRequest';
import type { RemovePodSandboxResponse } from '../../generated/cri/runtime/v1/RemovePodSandboxResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { removePod } from './pods';
import { locksOf } from './keyed-lock';
import { unlessGone } from './unless-gone';

export function removePodSandbox(deps: RuntimeDeps): Handler<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> {
  return async (req, ctx) => {
    const id = requireString(req.pod_sandbox_id, 'pod_sandbox_id');
    // CRI: RemovePodSandbox must not return an error if the sandbox has already been removed.
    await unlessGone(deps.sandboxes, locksOf(deps).pods, id, 'pod_sandbox_id', (sb) => removePod(deps, sb, ctx.log));
    return {};
  };
}
