// A byte-bounded async queue of buffers: the receive side of a ttRPC stream.
// The bound is what keeps a peer that floods data frames (or a consumer that
// stopped reading) from growing memory without limit.

export class BoundedQueue implements AsyncIterable<Buffer> {
  private items: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error: Error | undefined;
  private waiter: (() => void) | undefined;

  constructor(private readonly maxBytes: number) {}

  /** False when the item would exceed the bound (the caller fails the stream). */
  push(b: Buffer): boolean {
    if (this.ended || this.error) return true;
    if (this.bytes + b.length > this.maxBytes) return false;
    this.items.push(b);
    this.bytes += b.length;
    this.wake();
    return true;
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(err: Error): void {
    if (this.ended || this.error) return;
    this.error = err;
    this.items = [];
    this.bytes = 0;
    this.wake();
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.error) throw this.error;
      const b = this.items.shift();
      if (b) {
        this.bytes -= b.length;
        return b;
      }
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const b = await this.next();
      if (b === undefined) return;
      yield b;
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
