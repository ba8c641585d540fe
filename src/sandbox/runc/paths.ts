// Where the runc path keeps its files under the daemon's state dir (tmpfs:
// nothing here is meant to survive a reboot, as with runc's own state).

import { join } from 'node:path';

export class RuncPaths {
  constructor(readonly state: string) {}
  get runcRoot(): string {
    return join(this.state, 'runc');
  }
  get exitDir(): string {
    return join(this.state, 'exits');
  }
  get infraRootfs(): string {
    return join(this.state, 'infra-rootfs');
  }
  podDir(podId: string): string {
    return join(this.state, 'sandboxes', podId);
  }
  infraBundle(podId: string): string {
    return join(this.podDir(podId), 'infra');
  }
  /** Staging mounts of a container (staged-mounts.ts): outside its bundle, which is removed recursively. */
  stagedMounts(containerId: string): string {
    return join(this.state, 'staged', containerId);
  }
  /** Where runc finds an idmapped rootfs (user-namespace pods): 0711, so that the pod's root may search it. */
  stagedRootfs(containerId: string): string {
    return join(this.state, 'userns-rootfs', containerId);
  }
  containerBundle(containerId: string): string {
    return join(this.state, 'containers', containerId);
  }
}
