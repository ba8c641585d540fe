// PortForward into a VM-image pod. The pod IP is the guest's, and the pod
// netns's own eth0 holds it too (a connection from inside the netns stays
// on its loopback), so the connection is made from the daemon's namespace,
// routed through the pod network to eth0 and redirected into the guest like
// any other traffic to the pod. The guest's 127.0.0.1 is not reachable
// this way.

import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { UnavailableError } from '../../../common/errors';

/** How long a port-forward connection to the guest may take to be accepted. */
const PORT_CONNECT_TIMEOUT_MS = 10_000;

/** A TCP connection to `ip:port`, once accepted; UnavailableError naming the pod when refused or unanswered. */
export function connectGuestPort(podId: string, ip: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: ip, port, timeout: PORT_CONNECT_TIMEOUT_MS });
    const fail = (why: string): void => {
      s.destroy();
      reject(new UnavailableError(`pod ${podId}: port-forward to ${ip}:${port} in the guest: ${why}`));
    };
    s.once('timeout', () => fail(`no answer within ${PORT_CONNECT_TIMEOUT_MS} ms`));
    s.once('error', (err) => fail(err.message));
    s.once('connect', () => {
      s.removeAllListeners('timeout');
      s.removeAllListeners('error');
      s.setTimeout(0);
      resolve(s);
    });
  });
}
