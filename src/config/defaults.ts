import { DEFAULT_IMAGE_LIMITS } from '../image/limits';
import { microvmHandlerConfig } from './handlers/microvm';
import { runcHandlerConfig } from './handlers/runc';
import type { VmpodConfig } from './types';

export const DEFAULT_CONFIG_PATH = '/etc/vmpod/vmpod.toml';
export const DEFAULT_GUEST_CACHE = '/var/cache/vmpod/guest';

/** Defaults for every key; a fresh object each call so callers may mutate. */
export function defaultConfig(): VmpodConfig {
  return {
    listen: '/run/vmpod/vmpod.sock',
    root: '/var/lib/vmpod',
    state: '/run/vmpod',
    log_level: 'info',
    shutdown_timeout_s: 10,
    runtime: {
      default_trust: 'trusted',
      default_handler: 'runc',
      untrusted_handler: 'vm',
      cgroup_driver: 'cgroupfs',
      handlers: { runc: runcHandlerConfig.defaults(), vm: microvmHandlerConfig.defaults() },
    },
    registries: {},
    network: {
      cni_conf_dir: '/etc/cni/net.d',
      cni_bin_dirs: ['/usr/lib/cni', '/opt/cni/bin'],
      plugin_timeout_s: 30,
    },
    streaming: {
      address: '127.0.0.1',
      port: 0,
      token_ttl_s: 60,
      // kubelet's request cache holds at most 1000 in-flight requests.
      max_outstanding_urls: 1000,
      stream_idle_timeout_s: 4 * 60 * 60,
      max_sessions: 1000,
    },
    images: {
      max_layer_bytes: DEFAULT_IMAGE_LIMITS.layerBytes,
      max_image_bytes: DEFAULT_IMAGE_LIMITS.imageBytes,
      max_layer_entries: DEFAULT_IMAGE_LIMITS.layerEntries,
      min_free_bytes: DEFAULT_IMAGE_LIMITS.freeFloorBytes,
    },
    // 9464 is the port OpenTelemetry's Prometheus exporters use; off by default.
    metrics: { enabled: false, address: '127.0.0.1:9464' },
    // A root shell in every VM pod's guest is an operator's choice, per node.
    debug: { guest_shell: false },
  };
}
