// Builds the RuntimeDeps the lifecycle handlers take: loads the sandbox and
// container stores from `<root>/sandboxes` and `<root>/containers`, reads the
// host facts once and registers the sandbox controllers. The daemon calls
// this once at start-up and passes the result to lifecycleHandlers().

import { join } from 'node:path';
import type { VmpodConfig } from '../../config/types';
import type { Logger } from '../../log';
import type { HostFacts } from '../../oci/input';
import { readHostFacts } from '../../runc/host-facts';
import type { SandboxController } from '../../sandbox/controller';
import { createControllers } from '../../sandbox';
import { createContainerStore } from '../../store/container';
import { createSandboxStore } from '../../store/sandbox';
import type { ImageProvider, PodNetworkProvider, RuntimeDeps } from './deps';

export function buildRuntimeDeps(opts: {
  config: VmpodConfig;
  log: Logger;
  images: ImageProvider;
  network: PodNetworkProvider;
  /** Further controllers (the microvm one) once they exist. */
  extraControllers?: SandboxController[];
  /** The host's facts when the caller already read them (default: read here). */
  host?: HostFacts;
}): RuntimeDeps {
  const { config, log } = opts;
  const sandboxes = createSandboxStore(join(config.root, 'sandboxes'), log.child({ subsystem: 'store' }));
  const containers = createContainerStore(join(config.root, 'containers'), log.child({ subsystem: 'store' }));
  const loaded = { sandboxes: sandboxes.load(), containers: containers.load() };
  const host = opts.host ?? readHostFacts();
  log.info({ ...loaded, cgroupVersion: host.cgroupVersion, oomScoreAdj: host.oomScoreAdj, missingCapabilities: 41 - host.capabilities.size }, 'runtime stores loaded');
  const controllers = createControllers({ state: config.state, host, extra: opts.extraControllers });
  return { config, log, sandboxes, containers, images: opts.images, network: opts.network, controllers };
}
