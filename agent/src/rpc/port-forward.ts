// PortForward: one ttRPC stream ↔ one TCP connection to 127.0.0.1:<port> in
// the guest (the pod's network namespace is the VM's).

import { connect } from 'node:net';
import type { TtrpcServer } from '../../../common/ttrpc';
import { AGENT_SERVICE } from '../../../common/generated/agent/agent';
import { InvalidArgumentError, UnavailableError } from '../../../common/errors';
import { decodeMessage, encodeMessage } from '../../../common/agent-protocol/codec';
import { MAX_STREAM_CHUNK } from '../../../common/agent-protocol/limits';
import type { AgentDeps } from '../deps';

export function registerPortForward(server: TtrpcServer, d: AgentDeps, host = '127.0.0.1'): void {
  server.register(AGENT_SERVICE, 'PortForward', async (payload, ctx) => {
    const { port } = decodeMessage<{ port: number }>('vmpod.agent.v1.PortForwardOpen', payload);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('port', `${port} is not a TCP port`);
    const sock = connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (err) => reject(new UnavailableError(`port-forward to guest port ${port}: ${err.message}`)));
    });
    d.log.info({ port }, 'port-forward opened');
    const toHost = new Promise<void>((resolve) => {
      sock.on('data', (b: Buffer) => {
        for (let off = 0; off < b.length; off += MAX_STREAM_CHUNK) {
          ctx.send(encodeMessage('vmpod.agent.v1.PortForwardChunk', { data: b.subarray(off, off + MAX_STREAM_CHUNK) }));
        }
        // Backpressure: stop reading the guest socket while the host link is full.
        sock.pause();
        void ctx.drained().then(() => sock.resume());
      });
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
    ctx.signal.addEventListener('abort', () => sock.destroy(), { once: true });
    const fromHost = (async () => {
      for await (const frame of ctx.incoming) {
        const { data } = decodeMessage<{ data: Uint8Array }>('vmpod.agent.v1.PortForwardChunk', frame);
        if (!sock.write(data)) await new Promise((r) => sock.once('drain', r));
      }
      sock.end();
    })().catch(() => sock.destroy());
    // The call ends with the guest connection: once it is closed nothing more can go either way, and
    // the host must see the end without closing its own side first (a server that sends and hangs up,
    // as an HTTP/1.0 body ends). Ending the call fails `incoming`, which ends fromHost. A host that
    // closes first ends the socket's writing side; the guest server's answer and close follow.
    void fromHost;
    await toHost;
    return new Uint8Array(0);
  });
}
