// A fake QMP server on a unix socket for unit tests: the greeting, the
// capabilities handshake, then `reply` for every other command.

import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LaunchRecord } from '../../../../src/hypervisor/qemu/launch';
import { processStartTime } from '../../../../src/hypervisor/qemu/proc';

export const GREETING = JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: '' }, capabilities: [] } });

export type QmpRequest = { execute: string; id?: unknown; arguments?: Record<string, unknown> };
export type Reply = (msg: QmpRequest, sock: Socket) => void;

export const answer = (sock: Socket, msg: QmpRequest, ret: unknown = {}): void => void sock.write(JSON.stringify({ return: ret, id: msg.id }) + '\n');
export const refuse = (sock: Socket, msg: QmpRequest, cls: string, desc: string): void => void sock.write(JSON.stringify({ error: { class: cls, desc }, id: msg.id }) + '\n');
export const event = (sock: Socket, name: string, data: Record<string, unknown>): void => void sock.write(JSON.stringify({ event: name, data, timestamp: { seconds: 1, microseconds: 0 } }) + '\n');

export async function fakeQmp(t: { teardown(fn: () => void): void }, reply: Reply, greeting: string | null = GREETING): Promise<{ path: string; dir: string; server: Server; sockets: Socket[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-qmp-test-'));
  const path = join(dir, 'qmp.sock');
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    sockets.push(sock);
    if (greeting !== null) sock.write(greeting + '\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as QmpRequest;
        buf = buf.slice(nl + 1);
        if (msg.execute === 'qmp_capabilities') answer(sock, msg);
        else reply(msg, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, dir, server, sockets };
}

/** The launch record of a VM whose "QEMU" is this test process (alive as long as the test) and whose QMP is the fake at `qmpSocket`. */
export function liveLaunchRecord(qmpSocket: string, dir: string, over: Partial<LaunchRecord> = {}): LaunchRecord {
  return {
    version: 1,
    id: 'pod1',
    pid: process.pid,
    startTime: processStartTime(process.pid) as string,
    startedAt: new Date().toISOString(),
    qmpSocket,
    consoleLog: join(dir, 'console.log'),
    accel: 'tcg',
    ...over,
  };
}
