// Where vmpod's parts are put together: which implementation serves each
// CRI method. Each area registers itself here explicitly (no import side
// effects), so this file is the map of what the daemon can do.

import type { VmpodConfig } from '../config/types';
import type { CriImplementation } from '../cri/server';
import { imageHandlers } from '../cri/image';
import { daemonHandlers } from '../cri/runtime';
import { lifecycleHandlers } from '../cri/runtime/lifecycle';
import { buildRuntimeDeps } from '../cri/runtime/lifecycle-deps';
import { recoverInterrupted } from '../cri/runtime/recover-interrupted';
import type { DaemonInfo, NetworkReadiness } from '../cri/runtime/info';
import { probeCapabilities } from '../host/capabilities';
import { cheapHostProbes } from '../host/probes';
import { createImageService } from '../image/service';
import type { Logger } from '../log';
import { PodNetwork } from '../network';
import { readHostFacts } from '../runc/host-facts';
import { MicrovmController } from '../sandbox/microvm/controller';
import type { RuntimeState } from './runtime-state';

export interface Composed {
  implementation: CriImplementation;
  close(): Promise<void>;
}

export async function compose(cfg: VmpodConfig, log: Logger, version: string, state: RuntimeState): Promise<Composed> {
  const podNetwork = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: log });
  podNetwork.start();
  if (state.podCidr) podNetwork.setPodCidr(state.podCidr);
  const network = (): NetworkReadiness => podNetwork.networkStatus();
  const info: DaemonInfo = {
    config: cfg,
    version,
    capabilities: () => probeCapabilities(cfg, cheapHostProbes(cfg)),
    network,
    podCidr: () => state.podCidr,
    setPodCidr: (cidr) => {
      state.podCidr = cidr;
      podNetwork.setPodCidr(cidr);
    },
  };
  const images = await createImageService({ root: cfg.root, registries: cfg.registries, log: log.child({ subsystem: 'image' }) });
  const host = readHostFacts();
  const microvm = new MicrovmController({ config: cfg, host, logger: log });
  podNetwork.setVmPortOpener(microvm.openPodPort);
  const runtime = buildRuntimeDeps({ config: cfg, log, images, network: podNetwork, extraControllers: [microvm], host });
  // Pods and containers whose create was cut short by a crash are rolled back before serving.
  await recoverInterrupted(runtime);
  // Networks whose pods the store does not know were left by a crash mid-RunPodSandbox.
  await podNetwork.reconcile(new Set(runtime.sandboxes.list().map((s) => s.id)));
  return {
    implementation: { runtime: { ...lifecycleHandlers(runtime), ...daemonHandlers(info) }, image: imageHandlers(images, Object.keys(cfg.runtime.handlers)) },
    close: async () => {
      // VMs keep running: a restarted daemon reattaches to them.
      await microvm.detachAll();
      podNetwork.stop();
    },
  };
}
