// Bounded buffer of one process output stream (stdout or stderr). Output is
// kept until the host reads it, so a host that disconnects and reconnects
// (daemon restart) loses nothing — up to the bound; beyond it the newest
// bytes are dropped and counted, and the count is reported on every read.

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

  constructor(private readonly max = OUTPUT_BUFFER_BYTES) {}

  append(b: Buffer): void {
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
    return { data: Buffer.concat(out), eof: this.ended && this.size === 0, dropped: this.dropped };
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
