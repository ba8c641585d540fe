// The one place that decides which handler runs a pod, in this order:
// 1. the RuntimeClass handler kubelet passes (`runtime_handler`), if any;
// 2. the `io.kubernetes.cri.untrusted-workload: "true"` annotation → the
//    configured `untrusted_handler`;
// 3. `default_trust`: untrusted → `untrusted_handler`, trusted → `default_handler`.
// A pod that ends up in a VM cannot have host namespaces or privileged
// containers (a VM cannot honour them), so such a pod is refused.

import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { HandlerType, RuntimeConfig } from '../config/types';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';

export const UNTRUSTED_ANNOTATION = 'io.kubernetes.cri.untrusted-workload';

export interface Route {
  handler: string;
  type: HandlerType;
  reason: string;
}

function lookup(runtime: RuntimeConfig, handler: string, field: string): HandlerType {
  const h = runtime.handlers[handler];
  if (!h) {
    const known = Object.keys(runtime.handlers).sort().join(', ') || '(none)';
    throw new InvalidArgumentError(field, `unknown runtime handler "${handler}"; configured handlers: ${known}`);
  }
  return h.type;
}

export function routePod(runtime: RuntimeConfig, runtimeHandler: string, config: Pick<PodSandboxConfig__Output, 'annotations' | 'linux'>): Route {
  let handler: string;
  let reason: string;
  let field: string;
  if (runtimeHandler) {
    handler = runtimeHandler;
    reason = `RuntimeClass handler "${runtimeHandler}"`;
    field = 'runtime_handler';
  } else if (config.annotations?.[UNTRUSTED_ANNOTATION] === 'true') {
    handler = runtime.untrusted_handler;
    reason = `annotation ${UNTRUSTED_ANNOTATION}=true`;
    field = 'runtime.untrusted_handler';
  } else if (runtime.default_trust === 'untrusted') {
    handler = runtime.untrusted_handler;
    reason = 'default_trust is untrusted';
    field = 'runtime.untrusted_handler';
  } else {
    handler = runtime.default_handler;
    reason = 'default_trust is trusted';
    field = 'runtime.default_handler';
  }
  const type = lookup(runtime, handler, field);
  if (type === 'microvm') {
    const sc = config.linux?.security_context;
    const ns = sc?.namespace_options;
    const host: string[] = [];
    if (ns?.network === 'NODE') host.push('host network');
    if (ns?.pid === 'NODE') host.push('host PID');
    if (ns?.ipc === 'NODE') host.push('host IPC');
    if (sc?.privileged) host.push('privileged containers');
    if (host.length > 0) {
      throw new FailedPreconditionError(
        `pod is routed to VM handler "${handler}" (${reason}) but asks for ${host.join(', ')}, which a VM cannot provide; run it as a trusted pod or drop those settings`,
      );
    }
  }
  return { handler, type, reason };
}
