import type { DaemonInfo } from './info';

/** kubelet reads the cgroup driver from here instead of its own flag. */
export function runtimeConfigHandler(info: DaemonInfo) {
  return async () => ({
    linux: { cgroup_driver: info.config.runtime.cgroup_driver === 'cgroupfs' ? 'CGROUPFS' : 'SYSTEMD' },
  });
}
