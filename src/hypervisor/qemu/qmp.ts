// QMP client over QEMU's unix control socket. QEMU is a process of ours, but
// it emulates a hostile guest and can be wedged, so: every command has a
// timeout, lines are bounded, and nothing the socket sends can throw out of
// the data handler — garbage is logged and dropped.
//
// Wire format (docs/interop/qmp-spec): newline-delimited JSON. On connect the
// server sends {"QMP": {"version": …, "capabilities": […]}}; the client must
// send {"execute": "qmp_capabilities"} before anything else. Replies are
// {"return": …, "id": …} or {"error": {"class", "desc"}, "id": …}; events are
// {"event": NAME, "data": …, "timestamp": {"seconds", "microseconds"}}.

import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { DeadlineExceededError, InternalError, UnavailableError } from '../../../common/errors';
import { silentLogger, type Logger } from '../../log';
import { connectUnix, writeWithFd } from './scm-rights';

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** Seconds since the epoch, from QEMU's timestamp (0 if absent). */
  timestamp: number;
}

export interface QmpStatus {
  running: boolean;
  status: string;
}

export interface QmpClientOptions {
  logger?: Logger;
  maxLineBytes?: number;
  commandTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** A command QEMU answered with {"error": …}. */
export class QmpCommandError extends InternalError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
  }
}

/** A subscription to one event, taken before the command that causes it (QEMU may send the event before its reply). */
export interface EventWait {
  /** Resolves with the first matching event; rejects with DeadlineExceededError or, if the connection closes, UnavailableError. */
  readonly event: Promise<QmpEvent>;
  cancel(): void;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* not open */
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Events: 'event' (QmpEvent), and 'close' (once, when the socket is gone —
 * for a VM this is how a dead QEMU shows up to a client that is not its
 * parent).
 */
export class QmpClient extends EventEmitter {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private greeting: Record<string, unknown> | undefined;
  private readonly log: Logger;
  private readonly maxLine: number;
  private readonly timeoutMs: number;
  /** QEMU keeps one received descriptor per connection until a command takes it: one fd-carrying command at a time. */
  private fdTurn: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly sock: Socket,
    opts: QmpClientOptions,
  ) {
    super();
    this.log = opts.logger ?? silentLogger;
    this.maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.timeoutMs = opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => this.log.debug({ err }, 'qmp socket error'));
    sock.on('close', () => this.onClose());
  }

  /** Connect, read the greeting and negotiate capabilities. */
  static async connect(path: string, opts: QmpClientOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connectUnix(path);
      const onErr = (err: Error): void => reject(new UnavailableError(`QMP socket ${path}: ${err.message}`, { cause: err }));
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(s);
      });
    });
    const client = new QmpClient(sock, opts);
    try {
      await client.waitGreeting(path, timeoutMs);
      await client.execute('qmp_capabilities');
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get qemuVersion(): string | undefined {
    const v = isObject(this.greeting) && isObject(this.greeting.version) ? this.greeting.version.qemu : undefined;
    return isObject(v) ? `${String(v.major)}.${String(v.minor)}.${String(v.micro)}` : undefined;
  }

  private async waitGreeting(path: string, timeoutMs: number): Promise<void> {
    if (this.greeting) return;
    await this.waitFor(
      'greeting',
      () => true,
      timeoutMs,
      () => new UnavailableError(`QMP socket ${path}: closed before the greeting`),
      () => new DeadlineExceededError(`QMP socket ${path}: no greeting within ${timeoutMs} ms`),
    ).settled;
  }

  /**
   * The first `name` emission that `accept` takes, for at most `timeoutMs`;
   * rejects with `closed()` if the connection closes first (or already has),
   * with `late()` on the timeout. cancel() stops listening without settling.
   */
  private waitFor<T>(name: 'greeting' | 'event', accept: (v: T) => boolean, timeoutMs: number, closed: () => Error, late: () => Error): { settled: Promise<T>; cancel: () => void } {
    let cancel = (): void => undefined;
    const settled = new Promise<T>((resolve, reject) => {
      const onEmit = (v: T): void => {
        if (!accept(v)) return;
        cancel();
        resolve(v);
      };
      const onClose = (): void => {
        cancel();
        reject(closed());
      };
      const timer = setTimeout(() => {
        cancel();
        reject(late());
      }, timeoutMs);
      cancel = () => {
        clearTimeout(timer);
        this.off(name, onEmit);
        this.off('close', onClose);
      };
      if (this.closed) return onClose();
      this.on(name, onEmit);
      this.once('close', onClose);
    });
    return { settled, cancel: () => cancel() };
  }

  /** Run one QMP command; rejects with QmpCommandError, DeadlineExceededError or UnavailableError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<T> {
    return this.send<T>(command, args, timeoutMs, undefined);
  }

  /**
   * Run one QMP command with `fd` attached (SCM_RIGHTS), for `getfd` and
   * `add-fd`. Our copy of the descriptor is closed once sent (scm-rights.ts).
   */
  executeWithFd<T = unknown>(command: string, args: Record<string, unknown>, fd: number, timeoutMs = this.timeoutMs): Promise<T> {
    const run = this.fdTurn.then(() => this.send<T>(command, args, timeoutMs, fd));
    this.fdTurn = run.catch(() => undefined);
    return run;
  }

  private send<T>(command: string, args: Record<string, unknown> | undefined, timeoutMs: number, fd: number | undefined): Promise<T> {
    if (this.closed) {
      if (fd !== undefined) closeQuietly(fd);
      return Promise.reject(new UnavailableError(`QMP ${command}: connection closed`));
    }
    const id = `vmpod-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DeadlineExceededError(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      const msg: Record<string, unknown> = { execute: command, id };
      if (args) msg.arguments = args;
      const line = JSON.stringify(msg) + '\n';
      if (fd === undefined) {
        this.sock.write(line);
        return;
      }
      writeWithFd(this.sock, line, fd).catch((err: unknown) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Subscribe to the first event `match` accepts, for at most `timeoutMs`. */
  waitForEvent(match: (e: QmpEvent) => boolean, timeoutMs: number, what = 'event'): EventWait {
    const { settled: event, cancel } = this.waitFor(
      'event',
      match,
      timeoutMs,
      () => new UnavailableError(`QMP: connection closed while waiting for ${what}`),
      () => new DeadlineExceededError(`QMP: no ${what} within ${timeoutMs} ms`),
    );
    // A cancelled or unawaited wait must not surface as an unhandled rejection.
    event.catch(() => undefined);
    return { event, cancel };
  }

  async queryStatus(): Promise<QmpStatus> {
    const r = await this.execute('query-status');
    if (!isObject(r) || typeof r.running !== 'boolean' || typeof r.status !== 'string') {
      throw new InternalError('QMP query-status: malformed reply');
    }
    return { running: r.running, status: r.status };
  }

  /** ACPI power button: asks the guest to shut down; returns once QEMU accepted it. */
  async systemPowerdown(timeoutMs = this.timeoutMs): Promise<void> {
    await this.execute('system_powerdown', undefined, timeoutMs);
  }

  /**
   * Ask QEMU to exit. QEMU may close the socket before (or instead of)
   * replying, so a close counts as success.
   */
  async quit(timeoutMs = this.timeoutMs): Promise<void> {
    try {
      await this.execute('quit', undefined, timeoutMs);
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
    }
  }

  /**
   * Take up to `size` bytes, oldest first, out of ringbuf chardev `device`
   * (they are gone from the ring once read). Base64 on the wire, so the
   * guest's bytes arrive as written; `size` must keep the reply's line
   * (4/3 of it, plus a few bytes) under the line limit. Never returns more
   * than `size` bytes, whatever the reply says.
   */
  async ringbufRead(device: string, size: number): Promise<Buffer> {
    const r = await this.execute('ringbuf-read', { device, size, format: 'base64' });
    if (typeof r !== 'string') throw new InternalError('QMP ringbuf-read: malformed reply');
    const bytes = Buffer.from(r, 'base64');
    return bytes.length > size ? bytes.subarray(0, size) : bytes;
  }

  async cont(): Promise<void> {
    await this.execute('cont');
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.onLine(line);
    }
    if (this.buf.length > this.maxLine) {
      // A line this long is not QMP; drop the connection rather than buffer
      // without bound.
      this.log.warn({ bytes: this.buf.length }, 'qmp line exceeds limit, closing connection');
      this.buf = '';
      this.sock.destroy();
    }
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    if (line.length > this.maxLine) {
      this.log.warn({ bytes: line.length }, 'qmp line exceeds limit, dropped');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'qmp: unparseable line dropped');
      return;
    }
    if (!isObject(msg)) {
      this.log.warn('qmp: non-object message dropped');
      return;
    }
    try {
      this.dispatch(msg);
    } catch (err) {
      // A listener that throws must not take the socket handler down.
      this.log.error({ err }, 'qmp: message handler failed');
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (isObject(msg.QMP)) {
      this.greeting = msg.QMP;
      this.emit('greeting');
      return;
    }
    if (typeof msg.event === 'string') {
      const ts = isObject(msg.timestamp) ? msg.timestamp : {};
      const seconds = typeof ts.seconds === 'number' ? ts.seconds : 0;
      const micros = typeof ts.microseconds === 'number' ? ts.microseconds : 0;
      const ev: QmpEvent = { event: msg.event, data: isObject(msg.data) ? msg.data : {}, timestamp: seconds + micros / 1e6 };
      this.log.debug({ event: ev.event, data: ev.data }, 'qmp event');
      this.emit('event', ev);
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (!p || id === undefined) {
      this.log.warn({ id: msg.id }, 'qmp: reply to no pending command dropped');
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('return' in msg) {
      p.resolve(msg.return);
    } else if (isObject(msg.error)) {
      const { class: errorClass, desc } = msg.error;
      p.reject(new QmpCommandError(p.command, typeof errorClass === 'string' ? errorClass : 'GenericError', typeof desc === 'string' ? desc : ''));
    } else {
      p.reject(new InternalError(`QMP ${p.command}: reply has neither return nor error`));
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new UnavailableError(`QMP ${p.command}: connection closed`));
    }
    this.pending.clear();
    this.emit('close');
  }
}
