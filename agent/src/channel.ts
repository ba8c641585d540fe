// The agent's transports. Serial: the virtio-serial port whose sysfs name is
// "vmpod.agent" (no udev in the guest, so no /dev/virtio-ports/<name> link:
// the port is found by name under /sys/class/virtio-ports and opened as
// /dev/<vportNpM>). Vsock: port 1024 through the vsock addon.
//
// A virtio-serial port outlives the host's connection: when the host side
// closes, reads return EOF; the agent then reopens the port and serves a new
// ttRPC connection when the host comes back. Container state and unread
// output live in the agent, not in the connection, so nothing is lost.

import { openSync, closeSync, createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import type { AgentLog } from './log';
import { sleep } from '../../common/time';

export async function findVirtioPort(sysfsDir: string, name: string): Promise<string | undefined> {
  for (const port of await readdir(sysfsDir).catch(() => [] as string[])) {
    const n = await readFile(join(sysfsDir, port, 'name'), 'utf8').catch(() => '');
    if (n.trim() === name) return port;
  }
  return undefined;
}

/**
 * The port as a Duplex. libuv treats character devices as files, so
 * net.Socket cannot take the fd; fs streams (one thread-pool read at a time)
 * carry it instead.
 */
export function openSerialPort(path: string): Duplex {
  const fd = openSync(path, 'r+');
  const readable = createReadStream('', { fd, autoClose: false, highWaterMark: 64 * 1024 });
  const writable = createWriteStream('', { fd, autoClose: false });
  const d = Duplex.from({ readable, writable });
  let closed = false;
  d.on('close', () => {
    if (closed) return;
    closed = true;
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  });
  return d;
}

/** Serve connections on the serial port forever: reopen after every host disconnect. */
export async function serveSerial(path: string, serve: (conn: Duplex) => { onClose(fn: (err: Error) => void): void }, log: AgentLog): Promise<never> {
  let quietRetries = 0;
  for (;;) {
    let conn: Duplex;
    try {
      conn = openSerialPort(path);
    } catch (err) {
      log.error({ path, err: (err as Error).message }, 'cannot open agent serial port');
      await sleep(1000);
      continue;
    }
    const started = Date.now();
    const closed = new Promise<Error>((resolve) => serve(conn).onClose(resolve));
    const err = await closed;
    // With no host attached, read() returns EOF at once; back off instead of spinning.
    const short = Date.now() - started < 500;
    quietRetries = short ? quietRetries + 1 : 0;
    if (!short) log.info({ reason: err.message }, 'host connection on serial port ended; reopening');
    await sleep(short ? Math.min(50 * quietRetries, 500) : 10);
  }
}
