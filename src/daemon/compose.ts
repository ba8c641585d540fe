// The composition root: where vmpod's parts are built and put together, and
// the only place that holds them all. Each area is registered explicitly (no
// import side effects): the handler types (src/sandbox/index.ts) build one
// controller per configured handler, the same way for every type; the pod
// domain (src/pods) owns the stores and controllers; the CRI tables are thin
// over the domain and the image service.

import { join } from 'node:path';
import { withoutSecrets } from '../config/redact';
import type { VmpodConfig } from '../config/types';
import { PodsView, type AdminPods } from '../admin/pods-view';
import { imageHandlers } from '../cri/image';
import { runtimeHandlers, runtimeStreams } from '../cri/runtime';
import { streamingHandlers } from '../cri/runtime/exec';
import type { DaemonInfo, NetworkReadiness } from '../cri/runtime/info';
import type { CriImplementation } from '../cri/server';
import { observeCalls } from '../cri/wrap';
import { createImageService } from '../image/service';
import type { Logger } from '../log';
import { PodNetwork } from '../network';
import { PodService } from '../pods/service';
import { readHostFacts } from '../host/facts';
import type { HandlerTypes } from '../sandbox';
import type { HostFacts } from '../oci/input';
import type { ImageProvider, PodNetworkProvider } from '../pods/providers';
import type { SandboxController } from '../sandbox/controller';
import type { PhaseObserver } from '../sandbox/steps';
import { StreamingServer } from '../streaming/server';
import { createContainerStore, type ContainerStore } from '../store/container';
import { createSandboxStore, type SandboxStore } from '../store/sandbox';
import { handlerFeatures } from './handler-features';
import { hostReport } from './host-report';
import type { RuntimeState } from './runtime-state';

export interface Composed {
  implementation: CriImplementation;
  /**
   * Ends the calls that never finish on their own (GetContainerEvents
   * streams) and stops image pulls (which may run for many minutes; their
   * downloads and unpacks are aborted and their partial files removed), so
   * that the drain of in-flight calls at shutdown does not wait for them
   * until its timeout. A stopped PullImage answers UNAVAILABLE.
   */
  endOpenStreams(): void;
  /** What the root-only admin socket reads (vmpod pods, vm, console, logs --agent) and, with [debug] guest_shell, opens (vmpod debug): the records and the controllers' debug methods. */
  admin: AdminPods;
  close(): Promise<void>;
}

export async function compose(cfg: VmpodConfig, types: HandlerTypes, log: Logger, version: string, state: RuntimeState): Promise<Composed> {
  const podNetwork = new PodNetwork({ config: cfg.network, root: cfg.root, state: cfg.state, logger: log });
  podNetwork.start();
  if (state.podCidr) podNetwork.setPodCidr(state.podCidr);
  const info: DaemonInfo = {
    // Shown by Status verbose (crictl info): registry credentials stay out of it.
    config: withoutSecrets(cfg),
    version,
    // Cheap facts only: no VM is booted on a Status call.
    capabilities: async () => (await hostReport(cfg, types, false)).capabilities,
    network: (): NetworkReadiness => podNetwork.networkStatus(),
    // Read when Status is called, once the controllers below exist.
    handlerFeatures: (name) => handlerFeatures(cfg.runtime, controllers, name),
    podCidr: () => state.podCidr,
    setPodCidr: (cidr) => {
      state.podCidr = cidr;
      podNetwork.setPodCidr(cidr);
    },
  };
  // Off unless [metrics] enabled = true; when off, nothing observes calls or pulls and nothing listens,
  // and src/metrics is not even loaded: prom-client and its OpenTelemetry API are ~90 modules and
  // ~0.6 MiB of the daemon's heap that a node without a scrape never uses.
  const exporter = cfg.metrics.enabled ? await import('../metrics') : undefined;
  const metrics = exporter && new exporter.VmpodMetrics();
  const images = await createImageService({
    root: cfg.root,
    registries: cfg.registries,
    log: log.child({ subsystem: 'image' }),
    limits: { layerBytes: cfg.images.max_layer_bytes, imageBytes: cfg.images.max_image_bytes, layerEntries: cfg.images.max_layer_entries, freeFloorBytes: cfg.images.min_free_bytes },
    onPull: metrics && ((o) => metrics.pullDone(o)),
  });
  const { pods, sandboxes, containers, controllers } = composePods(cfg, types, { images, network: podNetwork, host: readHostFacts(), log, phases: metrics });
  // Pods and containers whose create was cut short by a crash are rolled back before serving.
  await pods.recover();
  // Exec, Attach and PortForward answer with URLs on this server, so it listens before the CRI socket does.
  const streaming = new StreamingServer(cfg.streaming, pods, log.child({ subsystem: 'streaming' }));
  await streaming.start();
  const metricsLog = log.child({ subsystem: 'metrics' });
  const endpoint =
    exporter &&
    metrics &&
    new exporter.DaemonMetrics(
      metrics,
      cfg.metrics,
      {
        inventory: { pods: () => sandboxes.list(), containers: () => containers.list() },
        podCosts: async () => exporter.toPodCosts(await pods.podMetrics(metricsLog)),
      },
      metricsLog,
    );
  const runtime = { ...runtimeHandlers(pods, info), ...streamingHandlers(pods, streaming) };
  const image = imageHandlers(images, Object.keys(cfg.runtime.handlers));
  const close = async (): Promise<void> => {
    // The metrics endpoint goes first: a scrape during shutdown would read half-closed parts.
    await endpoint?.close();
    // Streams end next: an exec'd process is killed, an attachment dropped; then the controllers let go.
    await streaming.close();
    // Pods keep running: a restarted daemon reattaches to them.
    await pods.close();
    // After the pods, which use it; its pulls were stopped before the drain (endOpenStreams), this waits for their clean-up.
    await images.close();
    podNetwork.stop();
  };
  try {
    await endpoint?.start();
  } catch (err) {
    // An address in use or not ours: nothing of this start may outlive it.
    await close();
    throw err;
  }
  return {
    implementation: { ...(metrics ? { runtime: observeCalls(runtime, metrics), image: observeCalls(image, metrics) } : { runtime, image }), streams: runtimeStreams(pods) },
    endOpenStreams: () => {
      pods.endEventStreams();
      images.close().catch((err: unknown) => log.warn({ err }, 'stopping image pulls at shutdown'));
    },
    admin: new PodsView(sandboxes, controllers, { guestShell: cfg.debug.guest_shell, podMetrics: () => pods.podMetrics(log.child({ subsystem: 'admin' })) }),
    close,
  };
}

export interface PodParts {
  pods: PodService;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  controllers: ReadonlyMap<string, SandboxController>;
}

/**
 * The pod domain: its stores (loaded from `<root>`), one controller per
 * configured handler (`controllers` replaces them, for tests that pass their
 * own), and the PodService over them.
 */
export function composePods(
  cfg: VmpodConfig,
  types: HandlerTypes,
  o: { images: ImageProvider; network: PodNetworkProvider; host: HostFacts; log: Logger; controllers?: ReadonlyMap<string, SandboxController>; phases?: PhaseObserver },
): PodParts {
  const { host, log } = o;
  const store = log.child({ subsystem: 'store' });
  const sandboxes = createSandboxStore(join(cfg.root, 'sandboxes'), store);
  const containers = createContainerStore(join(cfg.root, 'containers'), store);
  const loaded = { sandboxes: sandboxes.load(), containers: containers.load() };
  log.info({ ...loaded, cgroupVersion: host.cgroupVersion, oomScoreAdj: host.oomScoreAdj, missingCapabilities: 41 - host.capabilities.size }, 'runtime stores loaded');
  const controllers = o.controllers ?? types.createControllers(cfg.runtime.handlers, { config: cfg, host, log, phases: o.phases });
  const pods = new PodService({ config: cfg, log, sandboxes, containers, images: o.images, network: o.network, controllers, phases: o.phases });
  return { pods, sandboxes, containers, controllers };
}
