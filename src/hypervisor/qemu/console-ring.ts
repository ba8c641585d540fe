// The guest console lives in a ring QEMU holds (`-chardev ringbuf`,
// devices/serial-console.ts), so a guest printing forever costs the host one
// fixed ring whether or not the daemon runs. While a daemon is attached it
// drains the ring over QMP into the per-pod console log, which it keeps
// capped (console-log.ts): the file is what explains a failed boot and what
// tooling reads.
//
// Everything in the ring is the guest's: each read is capped (readBytes),
// one drain takes at most one ring's worth, and every chunk goes straight to
// the file, so the daemon's memory never grows with what the guest writes.
// A guest flooding the console (a drain that takes a whole ring) costs the
// daemon at most ringBytes of reads per maxDelayMs; a quiet one, one small
// QMP call per maxDelayMs. Output that is not a flood is in the log within
// minDelayMs, a line after a quiet spell within maxDelayMs.

import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { UnavailableError } from '../../../common/errors';
import type { Logger } from '../../log';
import { capConsoleLog } from './console-log';
import { QmpCommandError } from './qmp';

/** Bytes per ringbuf-read: its base64 reply (4/3 of it) stays well under the QMP line limit (qmp.ts, 1 MiB). */
export const CONSOLE_READ_BYTES = 256 * 1024;
/** The soonest the next drain comes after one that found output. */
export const CONSOLE_DRAIN_MIN_MS = 250;
/** The latest it comes (after a quiet spell, or after a flood filled a drain): how stale the file's tail can be. */
export const CONSOLE_DRAIN_MAX_MS = 1_000;

export interface ConsoleRingOptions {
  /** One ringbuf-read of at most `size` bytes (an empty buffer: the ring is empty). */
  read(size: number): Promise<Buffer>;
  logPath: string;
  /** The file's cap: past maxBytes it is cut to its last keepBytes. */
  maxBytes: number;
  keepBytes: number;
  /** The ring's size: one drain reads no more than this. */
  ringBytes: number;
  readBytes?: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  log: Logger;
}

/** The wait before the next drain: soon after output, the longest after a flood (a drain of a whole ring), doubling while the console is quiet. Pure. */
export function nextDrainDelay(prevMs: number, drained: number, ringBytes: number, minMs: number, maxMs: number): number {
  if (drained >= ringBytes) return maxMs;
  if (drained > 0) return minMs;
  return Math.min(Math.max(prevMs, minMs) * 2, maxMs);
}

/** Append `bytes` to `path` (made 0600 if missing), never through a symlink. */
export function appendConsole(path: string, bytes: Buffer): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
}

export class ConsoleRing {
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private stopped = false;
  /** Drains run one at a time, the timer's and drain()'s alike. */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly readBytes: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private writeFailed = false;

  constructor(private readonly o: ConsoleRingOptions) {
    this.readBytes = Math.min(o.readBytes ?? CONSOLE_READ_BYTES, o.ringBytes);
    this.minMs = o.minDelayMs ?? CONSOLE_DRAIN_MIN_MS;
    this.maxMs = o.maxDelayMs ?? CONSOLE_DRAIN_MAX_MS;
    this.delay = this.minMs;
  }

  /** Drain now (a reattached daemon finds what the guest wrote while it was away) and then on the timer. */
  start(): void {
    if (this.stopped || this.timer) return;
    this.tick();
  }

  /** Whether a drain is scheduled: false once stopped. */
  get scheduled(): boolean {
    return this.timer !== undefined;
  }

  /**
   * One drain, after any in progress: resolves with the bytes moved into the
   * log. Never rejects: a failed read is logged, and one that can never work
   * (no such ringbuf, QMP gone) stops the ring.
   */
  drain(): Promise<number> {
    const run = this.turn.then(() => this.drainOnce()).catch(() => 0);
    this.turn = run;
    return run;
  }

  /** No more drains: clears the timer. A drain in flight ends after its current read. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    void this.drain().then((n) => {
      if (this.stopped) return;
      this.delay = nextDrainDelay(this.delay, n, this.o.ringBytes, this.minMs, this.maxMs);
      // Unreferenced: draining is housekeeping, it must not keep a daemon alive.
      this.timer = setTimeout(() => this.tick(), this.delay);
      this.timer.unref();
    });
  }

  private async drainOnce(): Promise<number> {
    let total = 0;
    while (!this.stopped && total < this.o.ringBytes) {
      const want = Math.min(this.readBytes, this.o.ringBytes - total);
      let chunk: Buffer;
      try {
        chunk = await this.o.read(want);
      } catch (err) {
        if (err instanceof QmpCommandError || err instanceof UnavailableError) {
          // Not a ring (a QEMU launched by an older daemon writes a file itself) or QMP gone: no read will ever work.
          this.o.log.warn({ err }, 'guest console ring unreadable; no longer draining it');
          this.stop();
        } else {
          this.o.log.warn({ err }, 'reading the guest console ring failed');
        }
        break;
      }
      if (chunk.length === 0) break;
      if (chunk.length > want) chunk = chunk.subarray(0, want);
      total += chunk.length;
      this.write(chunk);
      if (chunk.length < want) break;
    }
    if (total > 0) this.cap();
    return total;
  }

  private write(chunk: Buffer): void {
    try {
      appendConsole(this.o.logPath, chunk);
      this.writeFailed = false;
    } catch (err) {
      // The output is lost (the ring has given it up); say so once per run of failures.
      if (!this.writeFailed) this.o.log.warn({ err, path: this.o.logPath }, 'cannot append to the guest console log; output dropped');
      this.writeFailed = true;
    }
  }

  private cap(): void {
    try {
      if (capConsoleLog(this.o.logPath, this.o.maxBytes, this.o.keepBytes)) this.o.log.debug({ max: this.o.maxBytes }, 'guest console log over its cap, truncated');
    } catch (err) {
      this.o.log.warn({ err }, 'capping the guest console log');
    }
  }
}
