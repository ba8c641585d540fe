// Bounded buffer of one process output stream (stdout or stderr). Output is
// kept until the host reads it, so a host that disconnects and reconnects
// (daemon restart) loses nothing. It is the guest end of the host's
// backpressure: once half the bound is unread, append() says so and the
// process's pipe or pty is no longer read (process.ts), so the process
// blocks in write() until the host reads again, as a process whose stdout
// reader is slow does anywhere. Only a source that keeps delivering after
// that is cut at the bound; those bytes are dropped and counted, and the
// count is reported on every read.

import { OUTPUT_BUFFER_BYTES } from '../../common/agent-protocol/limits';

export interface ReadResult {
  data: Buffer;
  eof: boolean;
  dropped: number;
}

export class OutputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  private ended = false;
  private readonly waiters = new Set<() => void>();
  /** Set while the source is held back: called once reads made room again. */
  private onRoom: (() => void) | undefined;

  constructor(private readonly max = OUTPUT_BUFFER_BYTES) {}

  /** Whether the source may go on delivering; false: hold it back until `resume` is called. */
  append(b: Buffer, resume?: () => void): boolean {
    const room = this.max - this.size;
    if (b.length > room) {
      this.dropped += b.length - room;
      b = b.subarray(0, room);
    }
    if (b.length) {
      this.chunks.push(Buffer.from(b));
      this.size += b.length;
    }
    this.wake();
    if (this.size < this.max / 2 || !resume) return true;
    this.onRoom = resume;
    return false;
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  get buffered(): number {
    return this.size;
  }

  /** Up to maxBytes; waits up to waitMs for data if there is none yet. */
  async read(maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    if (this.size === 0 && !this.ended && waitMs > 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    const out: Buffer[] = [];
    let n = 0;
    while (this.chunks.length && n < maxBytes) {
      const c = this.chunks[0];
      const take = Math.min(c.length, maxBytes - n);
      out.push(c.subarray(0, take));
      n += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.size -= n;
    if (this.onRoom && this.size < this.max / 2) {
      const r = this.onRoom;
      this.onRoom = undefined;
      r();
    }
    return { data: Buffer.concat(out), eof: this.ended && this.size === 0, dropped: this.dropped };
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
