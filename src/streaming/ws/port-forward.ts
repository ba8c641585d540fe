// Port-forward over WebSocket, as kubelet's portforward websocket.go: the
// ports come from the `port` query parameters, each gets a data channel
// (2i) and an error channel (2i+1), and both start with the port number,
// two bytes little-endian. A failure is written as text on the error
// channel; the connection closes when every port's forward has ended.

import type { WebSocket } from 'ws';
import type { Logger } from '../../log';
import { forwardError, PodConnections, type PortForwardSession, type PortForwardTarget } from '../port-forward';
import { WsChannels, type ChannelType } from './channels';
import type { ChannelProtocol } from './frames';

/** The ports of a WebSocket port-forward request's query; throws the message for a 400. */
export function queryPorts(search: URLSearchParams): number[] {
  const raw = search.getAll('port');
  if (raw.length === 0) throw new Error('query parameter "port" is required');
  return raw.map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= 1 && n <= 65535)) throw new Error(`port ${JSON.stringify(s)} must be a number in 1..65535`);
    return n;
  });
}

export function wsPortForward(ws: WebSocket, protocol: ChannelProtocol, ports: readonly number[], target: PortForwardTarget, log: Logger): PortForwardSession {
  const types: ChannelType[] = ports.flatMap((): ChannelType[] => ['readwrite', 'write']);
  const ch = new WsChannels(ws, protocol, types, log);
  const conns = new PodConnections(target, log);
  ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    ch.send(2 * i, prefix);
    ch.send(2 * i + 1, prefix);
  });

  async function forward(port: number, i: number): Promise<void> {
    const data = ch.readers[2 * i];
    const out = ch.writers[2 * i];
    const errOut = ch.writers[2 * i + 1];
    if (!data || !out || !errOut) return;
    try {
      await conns.relay(port, data, out, { endOutput: false, until: 'end' });
    } catch (err) {
      const msg = forwardError(target, port, err);
      log.info({ port, err }, 'port-forward failed');
      if (!conns.aborted) await new Promise<void>((resolve) => errOut.write(Buffer.from(msg), () => resolve()));
    }
  }

  return {
    run: async () => {
      await Promise.all(ports.map((p, i) => forward(p, i)));
      ws.close(1000);
    },
    abort: () => conns.abort(),
  };
}
