// Port-forward over SPDY/3.1 (portforward.k8s.io), as kubelet's
// portforward httpstream.go: the client opens a data and an error stream per
// forwarded connection, both with the `port` header and paired by
// `requestID` (old clients send none: the pair is then the error stream's
// id and the data stream's id minus 2). Each pair gets its own connection
// into the pod; a failure is written as text on the pair's error stream.
// Any number of pairs share the connection, which lives until the client
// closes it.

import type { Logger } from '../log';
import type { SpdySession, SpdyStream } from './spdy';
import { forwardError, PodConnections, type PortForwardSession, type PortForwardTarget } from './port-forward';

export const PORT_FORWARD_SPDY_PROTOCOLS = ['portforward.k8s.io'] as const;

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export function requestIdOf(s: SpdyStream): string {
  const id = s.headers.requestid;
  if (id) return id;
  return String(s.headers.streamtype === 'data' ? s.id - 2 : s.id);
}

export function spdyPortForward(session: SpdySession, target: PortForwardTarget, log: Logger, pairTimeoutMs: number): PortForwardSession {
  const pairs = new Map<string, Pair>();
  const conns = new PodConnections(target, log);

  const onStream = (s: SpdyStream): void => {
    s.on('error', (err) => log.debug({ err }, 'port-forward stream error'));
    const type = s.headers.streamtype;
    if (type !== 'data' && type !== 'error') {
      log.info({ type }, 'port-forward: unexpected stream type, reset');
      s.reset();
      return;
    }
    s.reply();
    const id = requestIdOf(s);
    let pair = pairs.get(id);
    if (!pair) {
      pair = {
        timer: setTimeout(() => {
          pairs.delete(id);
          log.info({ requestId: id }, 'port-forward: timed out waiting for the other stream of the pair');
          pair?.data?.reset();
          pair?.error?.reset();
        }, pairTimeoutMs),
      };
      pairs.set(id, pair);
    }
    if (pair[type]) {
      log.info({ requestId: id, type }, 'port-forward: a second stream of the same type and request, reset');
      s.reset();
      return;
    }
    pair[type] = s;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      void forward(pair.data, pair.error);
    }
  };

  async function forward(data: SpdyStream, errorStream: SpdyStream): Promise<void> {
    const portText = data.headers.port ?? '';
    const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
    try {
      if (!(port >= 1 && port <= 65535)) throw new Error(`invalid port ${JSON.stringify(portText)}`);
      await conns.relay(port, data, data, { endOutput: true, until: 'close' });
    } catch (err) {
      log.info({ port: portText, err }, 'port-forward failed');
      if (!errorStream.destroyed) errorStream.write(forwardError(target, portText, err));
    }
    if (!data.destroyed) data.end();
    if (!errorStream.destroyed) errorStream.end();
  }

  session.on('stream', onStream);
  return {
    // The session is the connection: it lasts until the client closes it.
    run: () => new Promise<void>((resolve) => session.once('close', () => resolve())),
    abort: () => {
      session.off('stream', onStream);
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
      conns.abort();
    },
  };
}
