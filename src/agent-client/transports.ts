// Connect functions for AgentClient, one per transport (DESIGN: "auto" picks
// vsock when /dev/vhost-vsock is usable, else virtio-serial).

import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectFn } from './client';

/** The guest agent's vsock port. */
export const AGENT_VSOCK_PORT = 1024;

/** virtio-serial: QEMU's `-chardev socket,path=<path>,server=on,wait=off` behind the `vmpod.agent` port. */
export function serialConnector(socketPath: string): ConnectFn {
  return () =>
    new Promise<Duplex>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
}

/** vsock: the guest CID this daemon assigned to the VM (never 2, never a CID it did not create). */
export function vsockConnector(cid: number, port = AGENT_VSOCK_PORT, timeoutMs = 5000): ConnectFn {
  return async () => {
    // Loaded lazily: hosts without the addon never touch it.
    const vsock = await import('../../common/native/vsock');
    return vsock.connect(cid, port, { timeoutMs });
  };
}
