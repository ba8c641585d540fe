// Test helper: a SPDY server and client over a real loopback HTTP upgrade.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptSpdyUpgrade, dialSpdy, type SpdySession } from '../../../../src/streaming/spdy';

export interface Pair {
  server: SpdySession;
  client: SpdySession;
  protocol: string;
  close(): Promise<void>;
}

/** Starts an HTTP server that upgrades to SPDY with `protocols`, dials it, and returns both sessions. */
export async function spdyPair(protocols: readonly string[] = ['v4.channel.k8s.io'], offered: readonly string[] = protocols): Promise<Pair> {
  const sockets = new Set<Duplex>();
  const httpServer = http.createServer();
  const serverSession = new Promise<SpdySession>((resolve, reject) => {
    httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      sockets.add(socket);
      const r = acceptSpdyUpgrade(req, socket, head, protocols);
      if (r) resolve(r.session);
      else reject(new Error('upgrade refused'));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  serverSession.catch(() => undefined); // a refusal is reported by dialSpdy
  const shutdown = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  };
  let dialed: Awaited<ReturnType<typeof dialSpdy>>;
  try {
    dialed = await dialSpdy(`http://127.0.0.1:${port}/exec/x`, offered);
  } catch (err) {
    await shutdown();
    throw err;
  }
  const { session: client, protocol } = dialed;
  const server = await serverSession;
  return {
    server,
    client,
    protocol,
    close: async () => {
      client.destroy();
      server.destroy();
      await shutdown();
    },
  };
}

export function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (v: T) => resolve(v)));
}
