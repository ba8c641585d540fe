// The one place that decides which handler runs a pod, in this order:
// 1. the RuntimeClass handler kubelet passes (`runtime_handler`), if any;
// 2. the `io.kubernetes.cri.untrusted-workload: "true"` annotation → the
//    configured `untrusted_handler`;
// 3. `default_trust`: untrusted → `untrusted_handler`, trusted → `default_handler`.
// A pod that ends up in a VM cannot share the node's network, PID or IPC
// namespace: those belong to the host kernel, and a VM pod's processes run
// under a guest kernel of their own. No VM runtime can honour them, so such
// a pod is refused. A privileged pod is not: in a VM, privileged means
// privileged inside the guest (guest-spec.ts), which reaches nothing of the
// host.

import { FailedPreconditionError, InvalidArgumentError } from '../../common/errors';
import type { HandlerType, RuntimeConfig } from '../config/types';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig';

export const UNTRUSTED_ANNOTATION = 'io.kubernetes.cri.untrusted-workload';

/** The node namespaces a pod may ask for, and the pod spec field that asks. */
const POD_FIELD = { network: 'hostNetwork', PID: 'hostPID', IPC: 'hostIPC' } as const;
export type HostNamespace = keyof typeof POD_FIELD;

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
    const ns = config.linux?.security_context?.namespace_options;
    const host: HostNamespace[] = [];
    if (ns?.network === 'NODE') host.push('network');
    if (ns?.pid === 'NODE') host.push('PID');
    if (ns?.ipc === 'NODE') host.push('IPC');
    if (host.length > 0) throw new FailedPreconditionError(hostNamespaceRefusal(handler, reason, host));
  }
  return { handler, type, reason };
}

/** Why a VM pod cannot have the node's namespaces, in words the user who asked can act on. */
export function hostNamespaceRefusal(handler: string, reason: string, kinds: readonly HostNamespace[]): string {
  const names = kinds.map((k) => `host ${k}`).join(', ');
  const fields = kinds.map((k) => POD_FIELD[k]).join(', ');
  return `pod is routed to VM handler "${handler}" (${reason}) but asks for ${names} (${fields}: the node's own namespace${kinds.length > 1 ? 's' : ''}): ` +
    'a VM pod runs under a guest kernel of its own and the node\'s namespaces exist only in the host kernel, so no VM runtime can provide them; ' +
    `run it as a trusted (runc) pod, or drop ${fields}`;
}
