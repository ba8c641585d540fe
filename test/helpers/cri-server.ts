// The CRI server the daemon composes (the pod domain with its stores and
// controllers, the runtime and image handler tables), served in-process on a
// unix socket for tests that need to hand it a stand-in network, their own
// controllers, or run CNI plugins in a test netns. Built by the daemon's own
// composePods; tests of the daemon process itself use ./daemon.ts instead.

import type { VmpodConfig } from '../../src/config/types';
import { composePods, type PodParts } from '../../src/daemon/compose';
import { imageHandlers } from '../../src/cri/image';
import { runtimeHandlers, runtimeStreams } from '../../src/cri/runtime';
import type { DaemonInfo } from '../../src/cri/runtime/info';
import type { HandlerTable } from '../../src/cri/handler';
import type { GrpcServer } from '../../src/cri/grpc/server';
import { createCriServer } from '../../src/cri/server';
import type { ImageService } from '../../src/image';
import type { Logger } from '../../src/log';
import type { PodNetworkProvider } from '../../src/pods/providers';
import { readHostFacts } from '../../src/host/facts';
import { handlerTypes } from '../../src/sandbox';
import type { SandboxController } from '../../src/sandbox/controller';
import { criClient, type CriClient } from './cri-client';
import { serveCriOn } from './serve-cri';

export interface InProcessCri extends PodParts {
  server: GrpcServer;
  client: CriClient;
  /** Client closed, server shut down, controllers let go; pods and containers are left as they are (like a daemon stop). */
  close(): Promise<void>;
}

export interface InProcessOptions {
  config: VmpodConfig;
  log: Logger;
  images: ImageService;
  network: PodNetworkProvider;
  /** Instead of one per configured handler, by handler name. */
  controllers?: ReadonlyMap<string, SandboxController>;
}

function testInfo(config: VmpodConfig): DaemonInfo {
  return { config, version: 'test', capabilities: async () => [], network: () => ({ ready: true, reason: '', message: '' }), podCidr: () => '', setPodCidr: () => undefined };
}

/** The pod domain and its RuntimeService table over `o.config.root`, as a (re)started daemon composes them. */
export function composeRuntime(o: InProcessOptions): PodParts & { runtime: HandlerTable } {
  const parts = composePods(o.config, handlerTypes(), { images: o.images, network: o.network, host: readHostFacts(), log: o.log, controllers: o.controllers });
  return { ...parts, runtime: runtimeHandlers(parts.pods, testInfo(o.config)) };
}

export async function serveCri(socket: string, o: InProcessOptions): Promise<InProcessCri> {
  const parts = composeRuntime(o);
  const { server } = createCriServer({ runtime: parts.runtime, image: imageHandlers(o.images, Object.keys(o.config.runtime.handlers)), streams: runtimeStreams(parts.pods) }, o.log);
  const stop = await serveCriOn(server, socket);
  const client = criClient(socket);
  return {
    ...parts,
    server,
    client,
    close: async () => {
      client.close();
      parts.pods.endEventStreams();
      await stop();
      await parts.pods.close();
    },
  };
}
