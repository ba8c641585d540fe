import type { DaemonInfo } from './info';

interface StatusRequest {
  verbose?: boolean;
}

/**
 * Status reports RuntimeReady and NetworkReady. The runtime is ready as soon
 * as the daemon serves (stores loaded); NetworkReady follows the CNI config.
 * With `verbose`, `info` carries the effective config and host capabilities
 * as JSON, which is what `crictl info` prints.
 */
export function statusHandler(info: DaemonInfo) {
  return async (req: StatusRequest) => {
    const net = info.network();
    const conditions = [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: net.ready, reason: net.ready ? '' : net.reason, message: net.ready ? '' : net.message },
    ];
    // "" is the default handler (pods without a RuntimeClass): kubelet looks
    // its features up under that name, so it is listed first, beside the named ones.
    const names = ['', ...Object.keys(info.config.runtime.handlers).filter((n) => n !== '')];
    const handlers = names.map((name) => ({
      name,
      features: { recursive_read_only_mounts: false, user_namespaces: false },
    }));
    const result: Record<string, unknown> = {
      status: { conditions },
      runtime_handlers: handlers,
      features: { supplemental_groups_policy: false },
      info: {},
    };
    if (req.verbose) {
      result.info = {
        config: JSON.stringify(info.config),
        capabilities: JSON.stringify(await info.capabilities()),
        podCIDR: info.podCidr(),
      };
    }
    return result;
  };
}
