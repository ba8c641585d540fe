// The one place that decides which handler runs a pod, in this order:
// 1. the RuntimeClass handler kubelet passes (`runtime_handler`), if any;
// 2. the `io.kubernetes.cri.untrusted-workload: "true"` annotation → the
//    configured `untrusted_handler`;
// 3. `default_trust`: untrusted → `untrusted_handler`, trusted → `default_handler`.
// The config guarantees the untrusted handler runs pods in a VM. What a
// handler refuses (a VM cannot have the node's namespaces) is its
// controller's checkPod, not a test here.

import { InvalidArgumentError } from '../../common/errors';
import type { RuntimeConfig } from '../config/types';

export const UNTRUSTED_ANNOTATION = 'io.kubernetes.cri.untrusted-workload';

export interface Route {
  handler: string;
  reason: string;
}

export function routePod(runtime: RuntimeConfig, runtimeHandler: string, annotations: Record<string, string>): Route {
  let route: Route;
  let field: string;
  if (runtimeHandler) {
    route = { handler: runtimeHandler, reason: `RuntimeClass handler "${runtimeHandler}"` };
    field = 'runtime_handler';
  } else if (annotations[UNTRUSTED_ANNOTATION] === 'true') {
    route = { handler: runtime.untrusted_handler, reason: `annotation ${UNTRUSTED_ANNOTATION}=true` };
    field = 'runtime.untrusted_handler';
  } else if (runtime.default_trust === 'untrusted') {
    route = { handler: runtime.untrusted_handler, reason: 'default_trust is untrusted' };
    field = 'runtime.untrusted_handler';
  } else {
    route = { handler: runtime.default_handler, reason: 'default_trust is trusted' };
    field = 'runtime.default_handler';
  }
  if (!runtime.handlers[route.handler]) {
    const known = Object.keys(runtime.handlers).sort().join(', ') || '(none)';
    throw new InvalidArgumentError(field, `unknown runtime handler "${route.handler}"; configured handlers: ${known}`);
  }
  return route;
}
