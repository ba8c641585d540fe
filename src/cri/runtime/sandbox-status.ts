import type { PodSandboxStatusRequest__Output } from '../../generated/cri/runtime/v1/PodSandboxStatusRequest';
import type { PodSandboxStatusResponse } from '../../generated/cri/runtime/v1/PodSandboxStatusResponse';
import type { Handler } from '../handler';
import { requireString } from '../validate';
import type { RuntimeDeps } from './deps';
import { refreshPodState } from './sandbox-list';
import { refresh } from './containers';
import { nowNs } from './ids';
import { toCriContainerStatus, toCriPodSandboxStatus } from './to-cri';

export function podSandboxStatus(deps: RuntimeDeps): Handler<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> {
  return async (req) => {
    const sb = await refreshPodState(deps, deps.sandboxes.resolve(requireString(req.pod_sandbox_id, 'pod_sandbox_id'), 'pod_sandbox_id'));
    // As ListContainers: a container still being created (no runtime yet) is not shown.
    const containers = await Promise.all(deps.containers.list().filter((c) => c.podSandboxId === sb.id && c.runtime !== null).map((c) => refresh(deps, c)));
    const info: Record<string, string> = {};
    if (req.verbose) {
      info.info = JSON.stringify({
        handler: sb.handler, handlerType: sb.handlerType, routeReason: sb.routeReason, netnsPath: sb.netnsPath,
        // The pod's process on the host: the infra process, or the VM's QEMU.
        pid: sb.runtime?.type === 'runc' ? sb.runtime.infraPid : typeof sb.runtime?.pid === 'number' ? sb.runtime.pid : undefined, runtime: sb.runtime,
      });
    }
    return {
      status: toCriPodSandboxStatus(sb),
      info,
      containers_statuses: containers.map(toCriContainerStatus),
      // CRI: nanoseconds; kubelet's evented PLEG compares it with event times in ns (cri-o#8580).
      timestamp: nowNs(),
    };
  };
}
