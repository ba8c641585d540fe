// What both port-forward transports share: the pod they reach, the ports
// the CRI request allowed, and the message a failed forward writes on its
// error stream (kubelet's wording, which kubectl shows).

import type { Duplex } from 'node:stream';
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

/** Throws when the CRI request named ports and this is not one of them. */
export function checkAllowed(target: PortForwardTarget, port: number): void {
  if (target.allowed.length > 0 && !target.allowed.includes(port)) throw new Error(`port ${port} was not in the PortForward request (${target.allowed.join(', ')})`);
}

export function forwardError(target: PortForwardTarget, port: number | string, err: unknown): string {
  return `error forwarding port ${port} to pod ${target.podId}: ${messageOf(err)}`;
}
