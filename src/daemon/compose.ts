// Where vmpod's parts are put together: which implementation serves each
// CRI method. Each area registers itself here explicitly (no import side
// effects), so this file is the map of what the daemon can do.

import type { VmpodConfig } from '../config/types';
import type { CriImplementation } from '../cri/server';
import { imageHandlers } from '../cri/image';
import { daemonHandlers } from '../cri/runtime';
import type { DaemonInfo, NetworkReadiness } from '../cri/runtime/info';
import { probeCapabilities } from '../host/capabilities';
import { cheapHostProbes } from '../host/probes';
import { createImageService } from '../image/service';
import type { Logger } from '../log';
import type { RuntimeState } from './runtime-state';
import { cniConfigPresent } from './cni-presence';

export interface Composed {
  implementation: CriImplementation;
  close(): Promise<void>;
}

export async function compose(cfg: VmpodConfig, log: Logger, version: string, state: RuntimeState): Promise<Composed> {
  const network = (): NetworkReadiness => cniConfigPresent(cfg.network.cni_conf_dir);
  const info: DaemonInfo = {
    config: cfg,
    version,
    capabilities: () => probeCapabilities(cfg, cheapHostProbes(cfg)),
    network,
    podCidr: () => state.podCidr,
    setPodCidr: (cidr) => {
      state.podCidr = cidr;
      log.info({ podCidr: cidr }, 'pod CIDR updated by kubelet');
    },
  };
  const images = await createImageService({ root: cfg.root, registries: cfg.registries, log: log.child({ subsystem: 'image' }) });
  return {
    implementation: { runtime: { ...daemonHandlers(info) }, image: imageHandlers(images) },
    close: async () => {},
  };
}
