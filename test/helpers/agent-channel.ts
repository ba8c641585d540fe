// The agent's channel of a guest started by a test or bench without the
// daemon: a virtio-serial port QEMU serves on a unix socket (as the daemon
// sets it up where there is no vsock), and the dialer an AgentClient uses.

import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { AgentClient } from '../../src/agent-client';
import { HealthResponse_Status } from '../../common/generated/agent/agent';

/** QEMU argv for the agent's virtio-serial port, served on the unix socket `sock`. */
export function serialAgentArgs(sock: string): string[] {
  return ['-device', 'virtio-serial-pci', '-chardev', `socket,id=agent,path=${sock},server=on,wait=off`, '-device', 'virtserialport,chardev=agent,name=vmpod.agent'];
}

/**
 * Connects to `sock` once QEMU has made it (up to 10 s); each socket opened
 * is also put in `opened`, for a caller that must destroy them itself.
 */
export async function dialAgentSocket(sock: string, opened?: Socket[]): Promise<Socket> {
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    s.once('connect', () => {
      opened?.push(s);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Asks Health (3 s per try) until the agent says SERVING or `limitMs` has passed: a booting guest answers nothing at first. */
export async function agentServingWithin(client: Pick<AgentClient, 'health'>, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const serving = await client.health({ timeoutMs: 3000 }).then(
      (h) => h.status === HealthResponse_Status.SERVING,
      () => false,
    );
    if (serving) return true;
  }
  return false;
}
