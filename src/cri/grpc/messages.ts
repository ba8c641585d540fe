// gRPC's message framing on an HTTP/2 stream (the "Length-Prefixed-Message"
// of gRPC's PROTOCOL-HTTP2.md): a 1-byte compressed flag, a 4-byte big-endian
// length, then that many bytes. A request's DATA frames arrive in whatever
// pieces the client and the kernel cut them into; MessageReader puts them
// back together and refuses, before buffering it, a message larger than the
// server takes.

/** Bytes before each message: the compressed flag and the length. */
export const MESSAGE_PREFIX_LENGTH = 5;

/** Why a request's bytes are not messages this server takes. */
export class MessageFramingError extends Error {
  constructor(
    message: string,
    /** The gRPC status the call ends with (RESOURCE_EXHAUSTED for size, UNIMPLEMENTED for compression). */
    readonly kind: 'too-large' | 'compressed',
  ) {
    super(message);
  }
}

/** The prefix of an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Buffer {
  const p = Buffer.allocUnsafe(MESSAGE_PREFIX_LENGTH);
  p[0] = 0;
  p.writeUInt32BE(length, 1);
  return p;
}

/** `body` as one uncompressed message on the wire. */
export function frameMessage(body: Buffer): Buffer {
  return Buffer.concat([messagePrefix(body.length), body]);
}

/** Collects the messages of one request stream. */
export class MessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The length of the message being read, once its prefix is complete. */
  private expected: number | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** The messages `chunk` completes (bodies, without their prefix); throws MessageFramingError. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.pendingBytes < MESSAGE_PREFIX_LENGTH) return out;
        const prefix = this.take(MESSAGE_PREFIX_LENGTH);
        const length = prefix.readUInt32BE(1);
        if (prefix[0] !== 0) {
          throw new MessageFramingError('the request message is compressed; vmpod takes only uncompressed messages (grpc-encoding identity)', 'compressed');
        }
        if (length > this.maxMessageBytes) {
          throw new MessageFramingError(`the request message is ${length} bytes, more than the ${this.maxMessageBytes} bytes vmpod takes`, 'too-large');
        }
        this.expected = length;
      }
      if (this.pendingBytes < this.expected) return out;
      out.push(this.take(this.expected));
      this.expected = undefined;
    }
  }

  /** True when the stream ended between messages, not inside one. */
  get atBoundary(): boolean {
    return this.pendingBytes === 0 && this.expected === undefined;
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return head;
  }
}
