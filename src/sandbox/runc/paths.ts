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
  containerBundle(containerId: string): string {
    return join(this.state, 'containers', containerId);
  }
}
