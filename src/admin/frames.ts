// The byte stream a `debug` request turns its admin connection into, once
// the daemon has answered the request line with ok. Both ways it is a
// sequence of frames: a 1-byte channel, a 4-byte big-endian length, then
// that many bytes. The channels are the Kubernetes remote command's (stdin
// 0, stdout 1, stderr 2, error/exit 3, resize 4), so the flow reads as
// kubectl exec's does, plus one to close stdin (v5.channel.k8s.io's 255).
// The daemon sends exactly one EXIT frame, last, then ends the connection;
// a connection that ends without one lost its session. Pure.

import { InvalidArgumentError } from '../../common/errors';

export const CHANNEL = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** Daemon → client, last: JSON {"exitCode":N} or {"error":{"code","message"}}. */
  exit: 3,
  /** Client → daemon: JSON {"rows":R,"cols":C}. */
  resize: 4,
  /** Client → daemon: no more stdin (empty payload). */
  closeStdin: 255,
} as const;

export const FRAME_HEADER_BYTES = 5;
/** The largest payload a client may send (stdin chunk); a larger one ends the session. */
export const MAX_CLIENT_FRAME = 64 * 1024;
/** The largest payload the daemon sends (one output chunk of the agent: 256 KiB). */
export const MAX_DAEMON_FRAME = 1024 * 1024;

export interface Frame {
  channel: number;
  payload: Buffer;
}

export type ExitMessage = { exitCode: number } | { error: { code: string; message: string } };

export function encodeFrame(channel: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt8(channel, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Accumulates bytes and yields whole frames; throws InvalidArgumentError for one longer than `max`, or on an unknown channel. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly max: number,
    private readonly channels: readonly number[],
  ) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= FRAME_HEADER_BYTES) {
      const channel = this.buf.readUInt8(0);
      const len = this.buf.readUInt32BE(1);
      if (!this.channels.includes(channel)) throw new InvalidArgumentError('frame', `unknown channel ${channel}`);
      if (len > this.max) throw new InvalidArgumentError('frame', `${len} bytes on channel ${channel}, more than ${this.max}`);
      if (this.buf.length < FRAME_HEADER_BYTES + len) break;
      out.push({ channel, payload: Buffer.from(this.buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len)) });
      this.buf = this.buf.subarray(FRAME_HEADER_BYTES + len);
    }
    return out;
  }

  /** Bytes of a frame not complete yet. */
  get pending(): number {
    return this.buf.length;
  }
}

/** A resize frame's payload → rows and cols; throws InvalidArgumentError. */
export function parseResize(payload: Buffer): { rows: number; cols: number } {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new InvalidArgumentError('resize', 'not JSON');
  }
  const o = (v ?? {}) as Record<string, unknown>;
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(o.rows) || !ok(o.cols)) throw new InvalidArgumentError('resize', 'rows and cols must be integers from 0 to 65535');
  return { rows: o.rows, cols: o.cols };
}

/** An exit frame's payload → what it says; throws when it is neither form. */
export function parseExit(payload: Buffer): ExitMessage {
  const v = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  if (typeof v.exitCode === 'number' && Number.isInteger(v.exitCode)) return { exitCode: v.exitCode };
  const e = v.error as Record<string, unknown> | undefined;
  if (typeof e?.code === 'string' && typeof e.message === 'string') return { error: { code: e.code, message: e.message } };
  throw new Error('the daemon sent an exit frame that says neither an exit code nor an error');
}
