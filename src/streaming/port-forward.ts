// What both port-forward transports share: the pod they reach, the ports
// the CRI request allowed, and the message a failed forward writes on its
// error stream (kubelet's wording, which kubectl shows).

import type { Duplex, Readable, Writable } from 'node:stream';
import type { Logger } from '../log';
import { messageOf } from './remote-command';

export interface PortForwardTarget {
  podId: string;
  /** Ports the CRI request named; empty: any. */
  allowed: readonly number[];
  dial(port: number): Promise<Duplex>;
}

export interface PortForwardSession {
  run(): Promise<void>;
  abort(): void;
}

/** How long a relay waits for the client's side once the pod's side has ended (PodConnections.relay). */
export const POD_ENDED_GRACE_MS = 500;

/** Throws when the CRI request named ports and this is not one of them. */
export function checkAllowed(target: PortForwardTarget, port: number): void {
  if (target.allowed.length > 0 && !target.allowed.includes(port)) throw new Error(`port ${port} was not in the PortForward request (${target.allowed.join(', ')})`);
}

export function forwardError(target: PortForwardTarget, port: number | string, err: unknown): string {
  return `error forwarding port ${port} to pod ${target.podId}: ${messageOf(err)}`;
}

/**
 * The pod connections of one port-forward session: each forwarded stream is
 * dialled, relayed, and released; abort() ends them all (client gone,
 * server closing).
 */
export class PodConnections {
  private readonly conns = new Set<Duplex>();
  private abortedFlag = false;

  constructor(
    private readonly target: PortForwardTarget,
    private readonly log: Logger,
  ) {}

  get aborted(): boolean {
    return this.abortedFlag;
  }

  /**
   * Dials `port` (refused when the request did not allow it) and relays
   * `input` to the pod and the pod to `output` until the pod's side ends
   * (`until: 'end'`) or closes, or `input` fails. Throws what the dial threw.
   *
   * `until: 'close'` waits for the client's side too, but once the pod's
   * side has ended only for POD_ENDED_GRACE_MS more. The client-go that
   * crictl 1.26 vendors (and kubectls of that age) closes its local
   * connection only when the server closes the pair's error stream, which
   * happens when this returns, and does not end its data stream before
   * that (newer client-go resets it once the remote side is done): a pod
   * server that closes a connection without announcing the body's length
   * (an HTTP/1.0-style reply, busybox httpd's 404) left `curl` through
   * `crictl port-forward` waiting for ever. containerd's forwarder gives the other direction the
   * same half second (socat's default) after the first one finishes.
   */
  async relay(port: number, input: Readable, output: Writable, opts: { endOutput: boolean; until: 'end' | 'close' }): Promise<void> {
    checkAllowed(this.target, port);
    const conn = await this.target.dial(port);
    if (this.abortedFlag) {
      conn.destroy();
      return;
    }
    this.conns.add(conn);
    let grace: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      conn.on('error', (err) => {
        this.log.debug({ err, port }, 'port-forward connection error');
        resolve();
      });
      conn.on('close', () => resolve());
      if (opts.until === 'end') conn.on('end', () => resolve());
      else conn.on('end', () => (grace = setTimeout(resolve, POD_ENDED_GRACE_MS)));
      input.on('error', () => resolve());
      input.pipe(conn);
      conn.pipe(output, { end: opts.endOutput });
    });
    clearTimeout(grace);
    input.unpipe(conn);
    conn.destroy();
    this.conns.delete(conn);
  }

  abort(): void {
    this.abortedFlag = true;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }
}
