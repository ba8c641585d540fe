import type { DaemonInfo } from './info';

/** The CRI API version this server speaks, as kubelet's own constant names it. */
const KUBE_RUNTIME_API_VERSION = '0.1.0';

export function versionHandler(info: DaemonInfo) {
  return async () => ({
    version: KUBE_RUNTIME_API_VERSION,
    runtime_name: 'vmpod',
    runtime_version: info.version,
    runtime_api_version: 'v1',
  });
}
