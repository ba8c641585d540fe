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
      handlers: { runc: { type: 'runc' }, vm: { type: 'microvm' } },
    },
    registries: {},
    network: {
      cni_conf_dir: '/etc/cni/net.d',
      cni_bin_dirs: ['/usr/lib/cni', '/opt/cni/bin'],
      plugin_timeout_s: 30,
    },
    microvm: {
      accel: 'auto',
      agent_transport: 'auto',
      vcpus: 1,
      memory_mib: 512,
      // Empty: the image this checkout's guest-image/build recorded in
      // dist/guest-image.json (src/host/guest-record.ts), never a link shared
      // by every checkout on the machine.
      guest_dir: '',
      qemu_binary: 'qemu-system-x86_64',
      boot_timeout_s: 120,
    },
  };
}
