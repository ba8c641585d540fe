import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../../common/errors';
import type { DaemonInfo } from './info';

interface UpdateRuntimeConfigRequest {
  runtime_config?: { network_config?: { pod_cidr?: string } | null } | null;
}

const FIELD = 'runtime_config.network_config.pod_cidr';

/** kubelet may send one CIDR or an IPv4,IPv6 pair for dual stack. */
export function validatePodCidr(value: string): string {
  const parts = value.split(',').map((p) => p.trim());
  for (const part of parts) {
    const [addr, prefix, ...rest] = part.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    const bits = Number(prefix);
    if (rest.length || !family || prefix === undefined || !/^\d+$/.test(prefix) || bits > max) {
      throw new InvalidArgumentError(FIELD, `"${part}" is not a CIDR such as 10.244.0.0/24`);
    }
  }
  return parts.join(',');
}

export function updateRuntimeConfigHandler(info: DaemonInfo) {
  return async (req: UpdateRuntimeConfigRequest) => {
    const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
    // An empty CIDR is how kubelet says "nothing to change".
    if (cidr) info.setPodCidr(validatePodCidr(cidr));
    return {};
  };
}
