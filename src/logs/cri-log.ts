// The CRI container log format kubelet reads (and `crictl logs` prints):
//
//   <RFC3339Nano timestamp> <stream> <tag> <text>\n
//
// stream is `stdout` or `stderr`; tag is `F` for the last (or only) piece of
// a line and `P` for a piece that the next record of the same stream
// continues (a line longer than the limit, or output without a trailing
// newline). kubelet joins P records up to the next F. The timestamp is UTC
// with nine fractional digits, as conmon writes it.
//
// CriLogWriter turns a process's raw stdout/stderr chunks into such records:
// complete lines as F; a line growing past `maxLineBytes` is cut into P
// records; a trailing partial line is held (so that "ab" + "c\n" is one
// record) until the next newline, `flush()`, the partial-flush timer, or
// `close()`, and then written as P. Writes are queued and done in order
// off the caller's path. The file (and its directory) is created at the
// first record, or by `open()` (StartContainer: the file exists before the
// container runs, as containerd makes it); `reopen()` (ReopenContainerLog,
// after kubelet rotated the file) takes effect between two records and
// resolves once the new file exists. Used wherever vmpod itself writes a
// log (today the VM path; conmon writes runc containers' logs).

import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export type LogStream = 'stdout' | 'stderr';
export type LogTag = 'P' | 'F';

/** kubelet's (and containerd's) default line cap. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

/** `2026-11-22T03:15:06.123456789Z` from a millisecond clock plus the sub-millisecond nanoseconds. Pure. */
export function rfc3339Nano(ms: number, subMsNanos = 0): string {
  const iso = new Date(ms).toISOString(); // 2026-11-22T03:15:06.123Z
  const frac = String((ms % 1000) * 1_000_000 + Math.max(0, Math.min(999_999, Math.trunc(subMsNanos)))).padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** One record. `text` must not contain a newline. Pure. */
export function formatRecord(time: string, stream: LogStream, tag: LogTag, text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  return Buffer.concat([Buffer.from(`${time} ${stream} ${tag} `), body, Buffer.from('\n')]);
}

export interface LogPiece {
  tag: LogTag;
  text: Buffer;
}

/**
 * Splits one stream's bytes into records. Keeps the trailing partial line;
 * pure apart from its own buffer, so it is unit-tested without files.
 */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES) {}

  /** Records completed by `chunk`. */
  push(chunk: Buffer): LogPiece[] {
    const out: LogPiece[] = [];
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl === -1) break;
      let line = buf.subarray(0, nl);
      while (line.length > this.maxLineBytes) {
        out.push({ tag: 'P', text: Buffer.from(line.subarray(0, this.maxLineBytes)) });
        line = line.subarray(this.maxLineBytes);
      }
      out.push({ tag: 'F', text: Buffer.from(line) });
      buf = buf.subarray(nl + 1);
    }
    while (buf.length > this.maxLineBytes) {
      out.push({ tag: 'P', text: Buffer.from(buf.subarray(0, this.maxLineBytes)) });
      buf = buf.subarray(this.maxLineBytes);
    }
    this.pending = Buffer.from(buf);
    return out;
  }

  /** The held partial line as a P record, if any. */
  flush(): LogPiece[] {
    if (this.pending.length === 0) return [];
    const text = this.pending;
    this.pending = Buffer.alloc(0);
    return [{ tag: 'P', text }];
  }

  get pendingBytes(): number {
    return this.pending.length;
  }
}

export interface CriLogWriterOptions {
  maxLineBytes?: number;
  /** Write a held partial line as P after this long without a newline; 0 = only on flush/close. */
  partialFlushMs?: number;
  /** Clock (tests): returns [epoch ms, sub-ms nanoseconds]. */
  now?: () => [number, number];
  /** Called once per write error (the log file vanished, disk full); output is dropped, never thrown at the producer. */
  onError?: (err: Error) => void;
}

type Done = (err?: Error) => void;
type Op = { kind: 'data'; bytes: Buffer } | { kind: 'open' | 'reopen'; done: Done } | { kind: 'close'; done: () => void };

/** Mode of a log directory vmpod creates (containerd's). */
const LOG_DIR_MODE = 0o755;

function defaultNow(): [number, number] {
  // Date.now() has ms resolution; hrtime gives the nanoseconds within it.
  const ms = Date.now();
  return [ms, Number(process.hrtime.bigint() % 1_000_000n)];
}

/** Records waiting for the disk beyond which writable() holds the producer back. */
export const LOG_QUEUE_HIGH_WATER = 8 << 20;
/** One write(2) carries at most this much of the queue. */
const MAX_WRITE_BYTES = 4 << 20;

export class CriLogWriter {
  private readonly splitters: Record<LogStream, LineSplitter>;
  private readonly queue: Op[] = [];
  private queuedBytes = 0;
  private readonly writableWaiters: Array<() => void> = [];
  private draining = false;
  private fh: FileHandle | undefined;
  private closed = false;
  private readonly timers: Partial<Record<LogStream, NodeJS.Timeout>> = {};
  private readonly now: () => [number, number];

  constructor(
    readonly path: string,
    private readonly opts: CriLogWriterOptions = {},
  ) {
    const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.splitters = { stdout: new LineSplitter(max), stderr: new LineSplitter(max) };
    this.now = opts.now ?? defaultNow;
  }

  /** Bytes a process wrote to `stream`. */
  write(stream: LogStream, chunk: Buffer | string): void {
    if (this.closed) return;
    const pieces = this.splitters[stream].push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.emit(stream, pieces);
    this.armPartialTimer(stream);
  }

  /**
   * Resolves once the records waiting for the disk are below the high-water
   * mark: a producer faster than the disk (a guest flooding its output)
   * awaits this, so that the queue stays bounded.
   */
  writable(): Promise<void> {
    if (this.queuedBytes < LOG_QUEUE_HIGH_WATER || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** Write held partial lines now (as P). */
  flush(): void {
    for (const s of ['stdout', 'stderr'] as const) {
      this.clearTimer(s);
      this.emit(s, this.splitters[s].flush());
    }
  }

  /** Create the file (and its directory) now if it is not open yet; rejects if it cannot be. */
  open(): Promise<void> {
    return this.fileOp('open');
  }

  /**
   * Close and open the path again (ReopenContainerLog); resolves once the new
   * file exists and records after it go there, rejects if it cannot be made.
   */
  reopen(): Promise<void> {
    return this.fileOp('reopen');
  }

  private fileOp(kind: 'open' | 'reopen'): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`log ${this.path} is closed`));
    return new Promise((resolve, reject) => this.enqueue({ kind, done: (err) => (err ? reject(err) : resolve()) }));
  }

  /** Flush, write everything queued, close the file. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.closed = true;
    this.writableWaiters.splice(0).forEach((w) => w());
    return new Promise((done) => this.enqueue({ kind: 'close', done }));
  }

  private emit(stream: LogStream, pieces: LogPiece[]): void {
    if (pieces.length === 0) return;
    const [ms, ns] = this.now();
    const time = rfc3339Nano(ms, ns);
    this.enqueue({ kind: 'data', bytes: Buffer.concat(pieces.map((p) => formatRecord(time, stream, p.tag, p.text))) });
  }

  private armPartialTimer(stream: LogStream): void {
    const ms = this.opts.partialFlushMs ?? 0;
    this.clearTimer(stream);
    if (ms <= 0 || this.splitters[stream].pendingBytes === 0) return;
    const t = setTimeout(() => {
      delete this.timers[stream];
      this.emit(stream, this.splitters[stream].flush());
    }, ms);
    t.unref();
    this.timers[stream] = t;
  }

  private clearTimer(stream: LogStream): void {
    const t = this.timers[stream];
    if (t) clearTimeout(t);
    delete this.timers[stream];
  }

  private enqueue(op: Op): void {
    if (op.kind === 'data') this.queuedBytes += op.bytes.length;
    this.queue.push(op);
    if (!this.draining) void this.drain();
  }

  private fail(err: unknown): void {
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  /** Opens the path for appending, creating it and its directory; undefined and the error if it cannot. */
  private async tryOpen(): Promise<{ fh?: FileHandle; err?: Error }> {
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: LOG_DIR_MODE });
      return { fh: await open(this.path, 'a', 0o640) };
    } catch (err) {
      return { err: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  private async openFile(): Promise<FileHandle | undefined> {
    const { fh, err } = await this.tryOpen();
    if (err) this.fail(err);
    return fh;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch((err: unknown) => this.fail(err));
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      for (let op = this.queue.shift(); op; op = this.queue.shift()) {
        if (op.kind === 'data') {
          // Several records queued meanwhile go out in one write (one copy, bounded).
          const parts = [op.bytes];
          let n = op.bytes.length;
          while (this.queue[0]?.kind === 'data' && n < MAX_WRITE_BYTES) {
            const next = (this.queue.shift() as { bytes: Buffer }).bytes;
            parts.push(next);
            n += next.length;
          }
          if (!this.fh) this.fh = await this.openFile();
          if (this.fh) await this.fh.write(parts.length === 1 ? parts[0] : Buffer.concat(parts, n)).catch((err: unknown) => this.fail(err));
          this.queuedBytes -= n;
          if (this.queuedBytes < LOG_QUEUE_HIGH_WATER) this.writableWaiters.splice(0).forEach((w) => w());
        } else if (op.kind === 'open' || op.kind === 'reopen') {
          if (op.kind === 'reopen') await this.closeFile();
          if (this.fh) {
            op.done();
          } else {
            const { fh, err } = await this.tryOpen();
            this.fh = fh;
            op.done(err);
          }
        } else {
          for (const s of ['stdout', 'stderr'] as const) this.clearTimer(s);
          await this.closeFile();
          op.done();
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
