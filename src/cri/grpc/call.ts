// One gRPC call on one HTTP/2 stream, from the server's side: its deadline,
// its cancellation, and its answer, sent exactly once. A unary call answers
// with headers, its one message and the OK trailers; a server stream sends
// its headers first, then messages as they come, then the trailers; a
// failure before any header is a trailers-only answer. Once the call has
// ended (answered, failed, its deadline passed, or the client reset the
// stream or went away) nothing more is sent, and a handler still running is
// told through onCancelled.

import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import { GrpcStatus } from '../../../common/errors';
import { frameMessage } from './messages';
import { encodeGrpcMessage } from './metadata';

/** A call's final status. */
export interface CallStatus {
  code: GrpcStatus;
  details: string;
}

/** A call as a method's handler sees it. */
export interface GrpcCall {
  /** The decoded request message. */
  readonly request: unknown;
  /** The `:authority` the client sent (after the CRI transport's rewrite, see src/cri/transport). */
  readonly authority: string;
  /** When the caller's deadline passes (ms since the epoch); Infinity without one. */
  readonly deadline: number;
  /** `cb` runs once if the call ends before the handler's answer: the client cancelled or went away, or the deadline passed. */
  onCancelled(cb: () => void): void;
}

/** A server-streaming call as its handler sees it. */
export interface ServerStreamCall extends GrpcCall {
  /** Send the response headers now, so a stream that stays quiet is seen to be open. */
  sendHeaders(): void;
  /** Send one message; resolves at once if the stream took it, else when it drains or the call ends. */
  write(message: unknown): Promise<void>;
}

const RESPONSE_HEADERS = {
  [h2.HTTP2_HEADER_STATUS]: 200,
  [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
};

function trailersOf(s: CallStatus): Record<string, string> {
  const t: Record<string, string> = { 'grpc-status': String(s.code) };
  if (s.details) t['grpc-message'] = encodeGrpcMessage(s.details);
  return t;
}

export class Call implements ServerStreamCall {
  request: unknown = undefined;
  private ended = false;
  private headersSent = false;
  private finalTrailers: Record<string, string> = {};
  private cancelListeners: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly authority: string,
    readonly deadline: number,
    private readonly serialize: (value: unknown) => Buffer,
    private readonly maxSendBytes: number,
  ) {
    stream.once('close', () => {
      clearTimeout(this.timer);
      if (!this.ended) this.cancel();
    });
    // setTimeout takes at most 2^31-1 ms; a deadline further away than that (24.8 days) is no deadline in practice.
    const ms = deadline - Date.now();
    if (Number.isFinite(deadline) && ms < 2 ** 31) {
      this.timer = setTimeout(
        () => {
          this.fail({ code: GrpcStatus.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
          this.cancel();
        },
        Math.max(0, ms),
      ).unref();
    }
  }

  get isEnded(): boolean {
    return this.ended;
  }

  onCancelled(cb: () => void): void {
    this.cancelListeners.push(cb);
  }

  /** The one message of a unary answer, then OK. */
  answer(response: unknown): void {
    if (this.ended) return;
    const body = this.encode(response);
    if (!body) return;
    this.end();
    if (this.gone) return;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => this.sendTrailers({ 'grpc-status': '0' }));
    this.stream.end(frameMessage(body));
  }

  sendHeaders(): void {
    if (this.ended || this.headersSent || this.gone) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => this.sendTrailers(this.finalTrailers));
  }

  async write(message: unknown): Promise<void> {
    if (this.ended) return;
    const body = this.encode(message);
    if (!body) return;
    this.sendHeaders();
    if (this.gone) return;
    if (this.stream.write(frameMessage(body))) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.stream.once('close', done);
    });
  }

  /** End a server stream with OK. */
  finish(): void {
    this.fail({ code: GrpcStatus.OK, details: '' });
  }

  /** End the call with `status`: as trailers after the headers if they went, else a trailers-only answer. */
  fail(status: CallStatus): void {
    if (this.ended) return;
    this.end();
    if (this.gone) return;
    if (this.headersSent) {
      this.finalTrailers = trailersOf(status);
      this.stream.end();
    } else {
      this.stream.respond({ ...RESPONSE_HEADERS, ...trailersOf(status) }, { endStream: true });
    }
  }

  /** The message's encoding, or undefined after failing the call because it cannot be sent. */
  private encode(message: unknown): Buffer | undefined {
    let body: Buffer;
    try {
      body = this.serialize(message);
    } catch (err) {
      this.fail({ code: GrpcStatus.INTERNAL, details: `internal error: the response does not encode: ${(err as Error).message}` });
      return undefined;
    }
    if (body.length > this.maxSendBytes) {
      this.fail({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the response is ${body.length} bytes, more than the ${this.maxSendBytes} bytes vmpod sends in one message` });
      return undefined;
    }
    return body;
  }

  /** Reset or closed by the client, or destroyed: nothing can be sent on it any more. */
  private get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  private sendTrailers(trailers: Record<string, string>): void {
    // Asked for by the session itself, so the stream is open; a throw here would be in an event handler, outside any call.
    try {
      this.stream.sendTrailers(trailers);
    } catch {
      // The stream went away in between: the client sees the reset, not a status.
    }
  }

  private end(): void {
    this.ended = true;
    clearTimeout(this.timer);
  }

  private cancel(): void {
    this.ended = true;
    for (const cb of this.cancelListeners.splice(0)) cb();
  }
}
