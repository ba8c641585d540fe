// Daemon-level RPCs: Version, Status, RuntimeConfig, UpdateRuntimeConfig.

import type { HandlerTable } from '../handler';
import { validatePodCidr } from '../validate';
import type { DaemonInfo } from './info';

/** The CRI API version this server speaks, as kubelet's own constant names it. */
const KUBE_RUNTIME_API_VERSION = '0.1.0';

interface StatusRequest {
  verbose?: boolean;
}

interface UpdateRuntimeConfigRequest {
  runtime_config?: { network_config?: { pod_cidr?: string } | null } | null;
}

export function daemonHandlers(info: DaemonInfo): HandlerTable {
  return {
    Version: async () => ({ version: KUBE_RUNTIME_API_VERSION, runtime_name: 'vmpod', runtime_version: info.version, runtime_api_version: 'v1' }),
    /**
     * RuntimeReady and NetworkReady. The runtime is ready as soon as the
     * daemon serves (stores loaded); NetworkReady follows the CNI config.
     * With `verbose`, `info` carries the effective config and host
     * capabilities as JSON, which is what `crictl info` prints.
     */
    Status: async (req: StatusRequest) => {
      const net = info.network();
      const conditions = [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: net.ready, reason: net.ready ? '' : net.reason, message: net.ready ? '' : net.message },
      ];
      // "" is the default handler (pods without a RuntimeClass): kubelet looks
      // its features up under that name, so it is listed first, beside the named ones.
      const names = ['', ...Object.keys(info.config.runtime.handlers).filter((n) => n !== '')];
      const handlers = names.map((name) => {
        const f = info.handlerFeatures?.(name) ?? { userNamespaces: false, recursiveReadOnlyMounts: false };
        return { name, features: { recursive_read_only_mounts: f.recursiveReadOnlyMounts, user_namespaces: f.userNamespaces } };
      });
      // user_namespaces_host_network: false, as containerd: a host-network pod is refused a user namespace (pods/pod-lifecycle.ts).
      const result: Record<string, unknown> = {
        status: { conditions },
        runtime_handlers: handlers,
        // supplemental_groups_policy: Merge and Strict are honoured by both handlers (oci/user.ts).
        features: { supplemental_groups_policy: true, user_namespaces_host_network: false },
        info: {},
      };
      if (req.verbose) {
        result.info = { config: JSON.stringify(info.config), capabilities: JSON.stringify(await info.capabilities()), podCIDR: info.podCidr() };
      }
      return result;
    },
    // kubelet reads the cgroup driver from here instead of its own flag.
    RuntimeConfig: async () => ({ linux: { cgroup_driver: info.config.runtime.cgroup_driver === 'cgroupfs' ? 'CGROUPFS' : 'SYSTEMD' } }),
    UpdateRuntimeConfig: async (req: UpdateRuntimeConfigRequest) => {
      const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
      // An empty CIDR is how kubelet says "nothing to change".
      if (cidr) info.setPodCidr(validatePodCidr(cidr));
      return {};
    },
  };
}
