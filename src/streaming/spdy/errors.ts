// Errors of the SPDY layer. They never reach a CRI caller (the streaming
// server answers HTTP, not gRPC), so they live here rather than in
// common/errors.ts; each says what the peer did wrong so a log line explains
// why a connection was torn down.

/** The peer broke the protocol (or a limit): the whole connection is torn down. */
export class SpdyProtocolError extends Error {
  readonly code = 'SPDY_PROTOCOL_ERROR';
  constructor(message: string) {
    super(`SPDY protocol error: ${message}`);
    this.name = 'SpdyProtocolError';
  }
}

/** One stream was reset (by the peer, or because its connection went away). */
export class SpdyStreamError extends Error {
  readonly code = 'SPDY_STREAM_RESET';
  constructor(
    readonly streamId: number,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`SPDY stream ${streamId}: ${message}`, options);
    this.name = 'SpdyStreamError';
  }
}
