// A CRI server built by createCriServer, served on a unix socket through the
// daemon's own listener (the `:authority` rewriter included), as the daemon
// serves it. Returns what stops both.

import type { GrpcServer } from '../../src/cri/grpc/server';
import { listenCri } from '../../src/cri/transport/listener';
import { silentLogger } from '../../src/log';

export async function serveCriOn(server: GrpcServer, socket: string): Promise<() => Promise<void>> {
  const listener = await listenCri(server, socket, silentLogger);
  return async () => {
    server.close();
    await listener.close();
  };
}
