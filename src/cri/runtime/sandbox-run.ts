import type { RunPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RunPodSandboxRequest';
import type { RunPodSandboxResponse } from '../../generated/cri/runtime/v1/RunPodSandboxResponse';
import type { Handler } from '../handler';
import { requireObject } from '../validate';
import type { RuntimeDeps } from './deps';
import { runPod } from './pods';

export function runPodSandbox(deps: RuntimeDeps): Handler<RunPodSandboxRequest__Output, RunPodSandboxResponse> {
  return async (req, ctx) => ({ pod_sandbox_id: await runPod(deps, requireObject(req.config, 'config'), req.runtime_handler, ctx.log) });
}
