// A client of qemu-guest-agent (QGA), the agent a VM image may run on the
// virtio-serial port `org.qemu.guest_agent.0`; QEMU serves that port as a
// unix socket in the pod's run dir. vmpod runs nothing in such a guest, so
// this is the only way in for exec (guest-exec.ts).
//
// Wire format (QEMU's qga/qapi-schema.json, "guest-sync-delimited"): one JSON
// object per line each way, `{"execute": NAME, "arguments": {...}}` answered
// by `{"return": ...}` or `{"error": {"class", "desc"}}`, in order, one answer
// per command. The port is a byte pipe that outlives any one client: it may
// still hold answers meant for an earlier client (a daemon that timed out or
// restarted), and the agent's parser may hold half a request. So every
// connection starts with a 0xFF byte (QGA's parser drops what it holds on it)
// and guest-sync-delimited with a random id; the agent puts a 0xFF byte
// before its answer, and everything up to that byte, and every line after it
// that is not the answer with our id, is stale and dropped.
//
// The guest is hostile: a line is capped (the largest honest answer is a
// guest-exec-status carrying both streams, see QGA_MAX_LINE_BYTES), every
// answer is checked for its shape, one command is in flight per connection
// (QGA answers in order, and nothing else would tell two answers apart),
// every call has a deadline, and on any violation or missed deadline the
// connection is closed (a late answer would otherwise be taken for the next
// command's). The next call connects again and syncs.
//
// QEMU's socket chardev serves one client at a time (a second connect waits
// in the listen backlog), so a pod has one GuestAgent that every exec of the
// pod shares: their short calls are queued on its one connection.

import { randomInt } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { DeadlineExceededError, FailedPreconditionError, InternalError, UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';

/** The virtio-serial port name qemu-guest-agent looks for (and Debian's udev rule starts it on). */
export const QGA_PORT_NAME = 'org.qemu.guest_agent.0';
/** QGA keeps at most this much of each of an exec'd process's stdout and stderr (GUEST_EXEC_MAX_OUTPUT in qga/commands.c). */
export const QGA_EXEC_OUTPUT_MAX = 16 * 1024 * 1024;
/** The longest honest line: a guest-exec-status with both streams full, base64 (4 bytes per 3), plus room for the rest of the object. */
export const QGA_MAX_LINE_BYTES = 2 * Math.ceil(QGA_EXEC_OUTPUT_MAX / 3) * 4 + 64 * 1024;
/** How long a fresh connection waits for the agent's guest-sync answer. */
export const QGA_SYNC_TIMEOUT_MS = 5_000;
/** A call fails when the agent sends nothing for this long while its answer is due. */
export const QGA_CALL_IDLE_TIMEOUT_MS = 10_000;
/** And when its answer has not come whole within this long (a guest trickling bytes). */
export const QGA_CALL_MAX_MS = 120_000;

const SENTINEL = 0xff;
const NEWLINE = 0x0a;

/** The agent answered a command with {"error": ...}. */
export class QgaCommandError extends InternalError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`qemu-guest-agent ${command} failed: ${errorClass}: ${desc}`);
  }
}

export type QgaFrame = { kind: 'line'; text: Buffer } | { kind: 'sentinel' };

/**
 * Splits the agent's bytes into lines and 0xFF sentinels (a 0xFF byte never
 * occurs in UTF-8 JSON). A sentinel also drops the partial line before it:
 * the agent sends it to reset the reader. Throws UnavailableError for a line
 * longer than `maxLineBytes`; what it holds stays below that.
 */
export class QgaLineReader {
  private parts: Buffer[] = [];
  private held = 0;

  constructor(private readonly maxLineBytes = QGA_MAX_LINE_BYTES) {}

  push(chunk: Buffer): QgaFrame[] {
    const out: QgaFrame[] = [];
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, from);
      const ff = chunk.indexOf(SENTINEL, from);
      const i = nl === -1 ? ff : ff === -1 ? nl : Math.min(nl, ff);
      if (i === -1) break;
      if (i === ff) {
        this.drop();
        out.push({ kind: 'sentinel' });
      } else {
        this.hold(chunk.subarray(from, i));
        out.push({ kind: 'line', text: this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.held) });
        this.drop();
      }
      from = i + 1;
    }
    this.hold(chunk.subarray(from));
    return out;
  }

  private hold(b: Buffer): void {
    if (b.length === 0) return;
    if (this.held + b.length > this.maxLineBytes) {
      this.drop();
      throw new UnavailableError(`qemu-guest-agent sent a line longer than ${this.maxLineBytes} bytes`);
    }
    // Copied: the socket's chunk is not ours to keep.
    this.parts.push(Buffer.from(b));
    this.held += b.length;
  }

  private drop(): void {
    this.parts = [];
    this.held = 0;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One answer line, checked: the value of "return", or a QgaCommandError; anything else throws UnavailableError. Pure. */
export function parseAnswer(command: string, text: Buffer): { ok: true; value: unknown } | { ok: false; err: QgaCommandError } {
  let v: unknown;
  try {
    v = JSON.parse(text.toString('utf8'));
  } catch {
    throw new UnavailableError(`qemu-guest-agent answered ${command} with a line that is not JSON`);
  }
  if (isObject(v) && 'return' in v && !('error' in v)) return { ok: true, value: v.return };
  if (isObject(v) && isObject(v.error) && !('return' in v)) {
    const { class: cls, desc } = v.error;
    if (typeof cls === 'string' && typeof desc === 'string') return { ok: false, err: new QgaCommandError(command, cls.slice(0, 200), desc.slice(0, 2000)) };
  }
  throw new UnavailableError(`qemu-guest-agent answered ${command} with neither {"return"} nor {"error": {"class", "desc"}}`);
}

export interface QgaTimeouts {
  syncMs?: number;
  callIdleMs?: number;
  callMaxMs?: number;
  maxLineBytes?: number;
}

interface Waiting {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  /** Bytes arrived while this answer was due: the idle deadline starts again. */
  progress(): void;
}

/** One synced connection to the agent. Closed for good on the first violation, missed deadline or socket end. */
class QgaConnection {
  private readonly reader: QgaLineReader;
  private state: 'syncing' | 'stale' | 'ready' | 'closed' = 'syncing';
  private waiting: Waiting | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private syncDone!: (err?: Error) => void;
  private closeReason: Error | undefined;
  /** Settles once the agent has answered the guest-sync. */
  readonly synced: Promise<void>;

  constructor(
    private readonly sock: Socket,
    private readonly syncId: number,
    private readonly t: Required<QgaTimeouts>,
    private readonly log: Logger,
  ) {
    this.reader = new QgaLineReader(t.maxLineBytes);
    this.synced = new Promise<void>((resolve, reject) => (this.syncDone = (err) => (err ? reject(err) : resolve())));
    this.synced.catch(() => undefined);
    sock.on('data', (b: Buffer) => this.onData(b));
    sock.on('error', (err) => this.log.debug({ err }, 'qemu-guest-agent socket error'));
    sock.on('close', () => this.close(new UnavailableError('the qemu-guest-agent socket closed')));
    // 0xFF first: the agent's parser drops whatever an earlier client left half sent.
    sock.write(Buffer.concat([Buffer.from([SENTINEL]), Buffer.from(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: syncId } })}\n`)]));
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** One command, after those queued before it. */
  call(command: string, args: Record<string, unknown> | undefined): Promise<unknown> {
    const run = this.turn.then(() => this.send(command, args));
    this.turn = run.catch(() => undefined);
    return run;
  }

  close(reason: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.sock.destroy();
    this.syncDone(reason);
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(reason);
  }

  private send(command: string, args: Record<string, unknown> | undefined): Promise<unknown> {
    if (this.state !== 'ready') return Promise.reject(this.closeReason ?? new UnavailableError(`qemu-guest-agent ${command}: the connection is not synced`));
    return new Promise<unknown>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      const armIdle = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => this.close(new DeadlineExceededError(`qemu-guest-agent ${command}: no answer for ${this.t.callIdleMs} ms`)), this.t.callIdleMs);
      };
      const max = setTimeout(() => this.close(new DeadlineExceededError(`qemu-guest-agent ${command}: the answer did not arrive whole within ${this.t.callMaxMs} ms`)), this.t.callMaxMs);
      const settle = (): void => {
        clearTimeout(idle);
        clearTimeout(max);
        this.waiting = undefined;
      };
      this.waiting = {
        command,
        resolve: (v) => {
          settle();
          resolve(v);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
        progress: armIdle,
      };
      armIdle();
      this.sock.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    });
  }

  private onData(b: Buffer): void {
    if (this.state === 'closed') return;
    this.waiting?.progress();
    let frames: QgaFrame[];
    try {
      frames = this.reader.push(b);
    } catch (err) {
      this.close(err as Error);
      return;
    }
    for (const f of frames) {
      if (this.isClosed) return;
      try {
        this.onFrame(f);
      } catch (err) {
        this.log.debug({ err }, 'qemu-guest-agent protocol violation; connection closed');
        this.close(err as Error);
      }
    }
  }

  private onFrame(f: QgaFrame): void {
    if (this.state === 'syncing' || this.state === 'stale') {
      // Before our sentinel everything is stale; after one, all but our answer is too (an earlier client's sync).
      if (f.kind === 'sentinel') this.state = 'stale';
      else if (this.state === 'stale' && this.isOurSync(f.text)) {
        this.state = 'ready';
        this.syncDone();
      }
      return;
    }
    if (f.kind === 'sentinel') throw new UnavailableError('qemu-guest-agent sent a sync sentinel nobody asked for');
    if (f.text.toString('latin1').trim() === '') return;
    const w = this.waiting;
    if (!w) throw new UnavailableError('qemu-guest-agent sent an answer to no command');
    const a = parseAnswer(w.command, f.text);
    if (a.ok) w.resolve(a.value);
    else w.reject(a.err);
  }

  private isOurSync(text: Buffer): boolean {
    try {
      const v: unknown = JSON.parse(text.toString('utf8'));
      return isObject(v) && v.return === this.syncId;
    } catch {
      return false;
    }
  }
}

export interface GuestAgentOptions extends QgaTimeouts {
  /** QEMU's unix socket for the `org.qemu.guest_agent.0` port. */
  socketPath: string;
  log: Logger;
  /** Names the VM in errors, e.g. `container <id>`; default: the socket path. */
  name?: string;
}

/**
 * The qemu-guest-agent of one VM: connects when first called, keeps the
 * connection, and connects (and syncs) again after one was closed. Every
 * exec of the pod shares it (see the top of this file).
 */
export class GuestAgent {
  private conn: QgaConnection | undefined;
  private connecting: Promise<QgaConnection> | undefined;
  /** The connection being synced, so that close() ends it at once. */
  private syncing: QgaConnection | undefined;
  private closed = false;
  private readonly t: Required<QgaTimeouts>;
  readonly name: string;

  constructor(private readonly o: GuestAgentOptions) {
    this.t = {
      syncMs: o.syncMs ?? QGA_SYNC_TIMEOUT_MS,
      callIdleMs: o.callIdleMs ?? QGA_CALL_IDLE_TIMEOUT_MS,
      callMaxMs: o.callMaxMs ?? QGA_CALL_MAX_MS,
      maxLineBytes: o.maxLineBytes ?? QGA_MAX_LINE_BYTES,
    };
    this.name = o.name ?? `the VM of guest agent socket ${o.socketPath}`;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connects and syncs if not connected: rejects FailedPreconditionError when no agent answers. */
  async ready(): Promise<void> {
    await this.connection();
  }

  /**
   * One command: its "return" value as `parse` reads it, or QgaCommandError,
   * DeadlineExceededError, UnavailableError, FailedPreconditionError (no
   * agent answers). A value `parse` refuses (it throws) is a protocol
   * violation: the connection is closed, as for any other.
   */
  async call<T>(command: string, args: Record<string, unknown> | undefined, parse: (v: unknown) => T): Promise<T> {
    const conn = await this.connection();
    const v = await conn.call(command, args);
    try {
      return parse(v);
    } catch (err) {
      conn.close(err instanceof Error ? err : new UnavailableError(String(err)));
      throw err;
    }
  }

  /** Idempotent: the connection closes and calls in flight fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of [this.conn, this.syncing]) c?.close(new UnavailableError(`${this.name}: the guest agent client was closed`));
    this.conn = undefined;
    this.syncing = undefined;
  }

  private connection(): Promise<QgaConnection> {
    if (this.closed) return Promise.reject(new UnavailableError(`${this.name}: the guest agent client was closed`));
    if (this.conn && !this.conn.isClosed) return Promise.resolve(this.conn);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<QgaConnection> {
    const { socketPath, log } = this.o;
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('error', (err: NodeJS.ErrnoException) => {
        s.destroy();
        reject(new FailedPreconditionError(`${this.name}: cannot connect to the qemu-guest-agent socket ${socketPath} (${err.code ?? err.message}); is the VM running?`));
      });
      s.once('connect', () => resolve(s));
    });
    const conn = new QgaConnection(sock, randomInt(1, 2 ** 31 - 1), this.t, log);
    if (this.closed) conn.close(new UnavailableError(`${this.name}: the guest agent client was closed`));
    this.syncing = conn;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new FailedPreconditionError(
              `${this.name}: the guest does not answer on its qemu-guest-agent port (${QGA_PORT_NAME}) within ${this.t.syncMs / 1000} s: the image must run qemu-guest-agent for exec (Debian and Ubuntu: package qemu-guest-agent, which udev starts when the port appears); a guest that is still booting answers once its agent has started`,
            ),
          ),
        this.t.syncMs,
      );
    });
    try {
      await Promise.race([conn.synced, late]);
    } catch (err) {
      conn.close(err as Error);
      if (this.closed) throw new UnavailableError(`${this.name}: the guest agent client was closed`);
      if (err instanceof FailedPreconditionError) throw err;
      throw new FailedPreconditionError(`${this.name}: the qemu-guest-agent connection failed before the agent answered guest-sync: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      this.syncing = undefined;
    }
    if (this.closed) {
      conn.close(new UnavailableError(`${this.name}: the guest agent client was closed`));
      throw new UnavailableError(`${this.name}: the guest agent client was closed`);
    }
    log.debug({ socketPath }, 'qemu-guest-agent connected and synced');
    this.conn = conn;
    return conn;
  }
}
