// The CRI server the daemon composes (stores, runtime handlers, image
// service, controllers), served in-process on a unix socket for tests that
// need to hand it a stand-in network or run CNI plugins in a test netns.
// Tests of the daemon process itself use ./daemon.ts instead.

import { ServerCredentials, type Server } from '@grpc/grpc-js';
import type { VmpodConfig } from '../../src/config/types';
import { imageHandlers } from '../../src/cri/image';
import type { PodNetworkProvider, RuntimeDeps } from '../../src/cri/runtime/deps';
import { lifecycleHandlers } from '../../src/cri/runtime/lifecycle';
import { buildRuntimeDeps } from '../../src/cri/runtime/lifecycle-deps';
import { createCriServer } from '../../src/cri/server';
import type { ImageService } from '../../src/image';
import type { Logger } from '../../src/log';
import type { SandboxController } from '../../src/sandbox/controller';
import { criClient, type CriClient } from './cri-client';

export interface InProcessCri {
  server: Server;
  client: CriClient;
  deps: RuntimeDeps;
  /** Client closed, server shut down; pods and containers are left as they are (like a daemon stop). */
  close(): void;
}

export async function serveCri(
  socket: string,
  o: { config: VmpodConfig; log: Logger; images: ImageService; network: PodNetworkProvider; extraControllers?: SandboxController[] },
): Promise<InProcessCri> {
  const deps = buildRuntimeDeps({ config: o.config, log: o.log, images: o.images, network: o.network, extraControllers: o.extraControllers });
  const { server } = createCriServer({ runtime: lifecycleHandlers(deps), image: imageHandlers(o.images, Object.keys(o.config.runtime.handlers)) }, o.log);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const client = criClient(socket);
  return {
    server,
    client,
    deps,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}
