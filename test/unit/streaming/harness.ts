// A streaming server on loopback over FakePods, with an injected clock, and
// the checks every test ends with: no session, no token left.

import type { Test } from 'tap';
import { defaultConfig } from '../../../src/config/defaults';
import type { StreamingConfig } from '../../../src/config/types';
import { silentLogger } from '../../../src/log';
import { StreamingServer } from '../../../src/streaming/server';
import type { SpdyStream } from '../../../src/streaming/spdy';
import { FakePods } from './fake-process';

export interface Harness {
  server: StreamingServer;
  pods: FakePods;
  clock: { now: number };
}

export async function startServer(t: Test, over: Partial<StreamingConfig> = {}): Promise<Harness> {
  const pods = new FakePods();
  const clock = { now: 1_000_000 };
  const server = new StreamingServer({ ...defaultConfig().streaming, ...over }, pods, silentLogger, () => clock.now);
  await server.start();
  t.teardown(() => server.close());
  return { server, pods, clock };
}

/** Resolves once the server holds no session (they end on the server's side of a close). */
export async function sessionsGone(server: StreamingServer): Promise<void> {
  while (server.activeSessions > 0) await new Promise((resolve) => setImmediate(resolve));
}

/** Everything a SPDY stream delivers, once it ends or fails. */
export function collect(s: SpdyStream): Promise<string> {
  const parts: Buffer[] = [];
  s.on('data', (b: Buffer) => parts.push(b));
  return new Promise((resolve) => {
    s.once('end', () => resolve(Buffer.concat(parts).toString()));
    s.once('error', () => resolve(Buffer.concat(parts).toString()));
  });
}
