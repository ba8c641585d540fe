// How the host reaches a pod VM's agent: the unix socket of QEMU's
// virtio-serial chardev, or AF_VSOCK to the guest's own CID (never CID 2 or
// any CID vmpod did not allocate: checkConnectTarget refuses the host CIDs).

import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectFn } from '../../agent-client';
import { AGENT_VSOCK_PORT } from '../../hypervisor';

export type AgentEndpoint = { transport: 'serial'; socketPath: string } | { transport: 'vsock'; cid: number };

export function agentConnectFn(e: AgentEndpoint): ConnectFn {
  if (e.transport === 'vsock') {
    return async () => {
      // Loaded lazily: the native addon is only needed where vsock is used.
      const vsock = await import('../../../common/native/vsock');
      return vsock.connect(e.cid, AGENT_VSOCK_PORT, { timeoutMs: 3000 });
    };
  }
  return () =>
    new Promise<Duplex>((resolve, reject) => {
      const s = createConnection(e.socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
}
