import type { ContainerStatusRequest__Output } from '../../generated/cri/runtime/v1/ContainerStatusRequest';
import type { ContainerStatusResponse } from '../../generated/cri/runtime/v1/ContainerStatusResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { refresh } from './containers';
import { toCriContainerStatus } from './to-cri';

export function containerStatus(deps: RuntimeDeps): Handler<ContainerStatusRequest__Output, ContainerStatusResponse> {
  return async (req) => {
    const c = await refresh(deps, deps.containers.resolve(requireString(req.container_id, 'container_id'), 'container_id'));
    const info: Record<string, string> = {};
    if (req.verbose) {
      // pid and sandboxID are where containerd and CRI-O put them (crictl inspect templates, node
      // agents read them). A VM container's process has no host pid: 0.
      const pid = c.runtime?.type === 'runc' ? c.runtime.pid : 0;
      info.info = JSON.stringify({ pid, sandboxID: c.podSandboxId, sandboxId: c.podSandboxId, rootfs: c.rootfs, stopSignal: c.stopSignal, runtime: c.runtime, config: c.config });
    }
    return { status: toCriContainerStatus(c), info };
  };
}
