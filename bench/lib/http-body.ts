// Counting the body of one HTTP/1.0 answer as it streams in, so a
// throughput measurement ends when the whole file has arrived rather than
// when the transport closes: runtimes differ in when they end a
// port-forward stream after the pod's server closed its side (containerd
// 1.6's portForward waits for the client's direction to end too, or for a
// grace period of a second; vmpod ends it at once), and the bench must time
// the same thing on both.

/** Feeds chunks of an HTTP answer; `done` once `expected` body bytes followed the header. */
export class HttpBodyCounter {
  private head = Buffer.alloc(0);
  private inBody = false;
  /** Body bytes seen so far. */
  body = 0;
  /** The status line, once the header is complete. */
  status = '';

  constructor(readonly expected: number) {}

  get done(): boolean {
    return this.inBody && this.body >= this.expected;
  }

  /** Adds one chunk; returns `done`. */
  push(chunk: Buffer): boolean {
    if (this.inBody) {
      this.body += chunk.length;
      return this.done;
    }
    this.head = Buffer.concat([this.head, chunk]);
    const end = this.head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.head.length > 64 * 1024) throw new Error('no end of the HTTP header in the first 64 KiB');
      return false;
    }
    this.status = this.head.subarray(0, this.head.indexOf('\r\n')).toString();
    if (!/^HTTP\/1\.[01] 200 /.test(this.status)) throw new Error(`the pod's server answered "${this.status}"`);
    this.inBody = true;
    this.body = this.head.length - end - 4;
    this.head = Buffer.alloc(0);
    return this.done;
  }
}
