// The clients bench/streaming drives a streaming server with, each timing
// one whole operation: an exec of a command to its status, or one HTTP GET
// of a known size through a port-forward. The SPDY ones are vmpod's own
// client-go-like dialer (src/streaming/spdy), so the same code runs against
// vmpod and containerd; the WebSocket ones only have vmpod to talk to
// (containerd 1.6 serves SPDY only). Every socket is closed before the
// promise settles.

import { connect } from 'node:net';
import WebSocket from 'ws';
import { dialSpdy, RstStatus, SpdyStreamError } from '../../src/streaming/spdy';
import { HttpBodyCounter } from './http-body';
import { msSince } from './stats';

/** Exec over WebSocket v5; resolves with the status text once the server closes. */
export function wsExec(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
    let status = '';
    ws.on('message', (d: Buffer) => {
      if (d[0] === 3) status += d.subarray(1).toString();
    });
    ws.on('close', () => resolve(status));
    ws.on('error', reject);
  });
}

/**
 * Exec over SPDY v4 as client-go opens it (error, then stdout); resolves
 * with the status once the error stream ends. A reset of the error stream
 * by the server ends it too, as in client-go (spdystream reads a reset as
 * EOF): kubelet's streaming code, which containerd serves, writes the
 * status and then resets every stream of the connection instead of closing
 * them.
 */
export async function spdyExec(url: string): Promise<string> {
  const { session } = await dialSpdy(url, ['v4.channel.k8s.io']);
  try {
    const error = await session.openStream({ streamtype: 'error' });
    const stdout = await session.openStream({ streamtype: 'stdout' });
    stdout.resume();
    // The error stream decides the outcome; stdout is reset along with it by kubelet's code (client-go ignores that too).
    stdout.on('error', () => undefined);
    const parts: Buffer[] = [];
    error.on('data', (b: Buffer) => parts.push(b));
    await new Promise((resolve, reject) => {
      error.once('end', resolve);
      error.once('error', (err) => (err instanceof SpdyStreamError && err.status === RstStatus.CANCEL ? resolve(undefined) : reject(err)));
    });
    return Buffer.concat(parts).toString();
  } finally {
    session.destroy();
  }
}

/** One-byte round trips inside one `cat` over WebSocket v5, each pushed to `into` (ms). */
export async function wsEchoes(url: string, n: number, into: number[]): Promise<void> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    let waiting: (() => void) | undefined;
    ws.on('message', (d: Buffer) => {
      if (d[0] === 1 && d.length > 1) waiting?.();
    });
    for (let i = 0; i < n; i++) {
      const start = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        waiting = resolve;
        ws.send(Buffer.from([0, 0x61]));
      });
      into.push(msSince(start));
    }
    ws.send(Buffer.from([255, 0]));
    await new Promise((resolve) => ws.once('close', resolve));
  } finally {
    ws.terminate();
  }
}

const GET = Buffer.from('GET /blob HTTP/1.0\r\n\r\n');

/** A transport that ended before the whole body came is an error, never a short sample. */
function short(what: string, c: HttpBodyCounter): Error {
  return new Error(`${what}: the stream ended after ${c.body} of ${c.expected} body bytes${c.status ? '' : ' (no HTTP header)'}`);
}

/** GET /blob of `size` bytes over plain TCP (to a pod IP, or to crictl port-forward's local port). */
export function tcpGet(host: string, port: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new HttpBodyCounter(size);
    const s = connect(port, host, () => s.write(GET));
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      s.destroy();
      if (err) reject(err);
      else resolve();
    };
    s.on('data', (b: Buffer) => {
      try {
        if (c.push(b)) settle();
      } catch (err) {
        settle(err as Error);
      }
    });
    s.on('end', () => settle(c.done ? undefined : short(`tcp ${host}:${port}`, c)));
    s.on('error', (err) => settle(err));
  });
}

/** GET /blob through a WebSocket v4 port-forward (each data message has the channel byte; the first on a channel the two-byte port). */
export function wsGet(url: string, port: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${port}`, ['v4.channel.k8s.io']);
    const c = new HttpBodyCounter(size);
    let prefixed = false;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      ws.terminate();
      if (err) reject(err);
      else resolve();
    };
    ws.on('open', () => ws.send(Buffer.concat([Buffer.from([0]), GET])));
    ws.on('message', (d: Buffer) => {
      if (d[0] !== 0) return;
      const payload = prefixed ? d.subarray(1) : d.subarray(3);
      prefixed = true;
      try {
        if (c.push(payload)) settle();
      } catch (err) {
        settle(err as Error);
      }
    });
    ws.on('close', () => settle(c.done ? undefined : short('websocket port-forward', c)));
    ws.on('error', (err) => settle(err));
  });
}

/** GET /blob through a SPDY port-forward pair (error and data streams, as client-go opens them). */
export async function spdyGet(url: string, port: number, size: number): Promise<void> {
  const { session } = await dialSpdy(url, ['portforward.k8s.io']);
  try {
    const error = await session.openStream({ streamtype: 'error', port: String(port), requestid: '0' });
    const errors: Buffer[] = [];
    error.on('data', (b: Buffer) => errors.push(b));
    const data = await session.openStream({ streamtype: 'data', port: String(port), requestid: '0' });
    const c = new HttpBodyCounter(size);
    await new Promise<void>((resolve, reject) => {
      data.on('data', (b: Buffer) => {
        try {
          if (c.push(b)) resolve();
        } catch (err) {
          reject(err);
        }
      });
      const ended = () => (c.done ? resolve() : reject(short(`spdy port-forward${errors.length ? `: ${Buffer.concat(errors).toString()}` : ''}`, c)));
      data.once('end', ended);
      data.once('close', ended);
      data.once('error', reject);
      data.write(GET);
    });
  } finally {
    session.destroy();
  }
}
