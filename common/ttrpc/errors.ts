// Errors a ttRPC call can fail with. They extend the project catalogue
// (src/errors.ts) so the CRI layer maps them to gRPC status like any other.
// Callers distinguish them with instanceof, never by message text.

import { DeadlineExceededError, GrpcStatus, UnavailableError, VmpodError } from '../errors';

export { DeadlineExceededError };

/** The connection is gone (peer closed, transport error, or closed locally). Every pending call fails with it. */
export class ConnectionClosedError extends UnavailableError {}

/**
 * The peer broke the protocol (oversized or malformed frame, unknown message
 * type, response to a stream never opened). Only that connection is torn down.
 */
export class ProtocolViolationError extends UnavailableError {
  constructor(readonly reason: string) {
    super(`ttrpc protocol violation by peer: ${reason}; connection closed`);
  }
}

/** The caller aborted the call through its AbortSignal. */
export class CallCancelledError extends VmpodError {
  readonly code = 'CANCELLED';
  readonly grpcStatus = GrpcStatus.CANCELLED;
}

/** The peer answered with a non-OK google.rpc.Status. */
export class RemoteStatusError extends VmpodError {
  readonly code = 'REMOTE_STATUS';
  readonly grpcStatus: GrpcStatus;
  constructor(
    readonly remoteCode: number,
    readonly remoteMessage: string,
    readonly method: string,
  ) {
    super(`${method}: remote returned status ${remoteCode}: ${remoteMessage}`);
    // Only the 16 defined codes are passed through; anything else the peer
    // invents becomes UNKNOWN.
    this.grpcStatus = Number.isInteger(remoteCode) && remoteCode >= 1 && remoteCode <= 16 ? remoteCode : GrpcStatus.UNKNOWN;
  }
}

/** A stream's unread data exceeded the receive bound (peer flooding or consumer stalled). */
export class StreamOverflowError extends VmpodError {
  readonly code = 'RESOURCE_EXHAUSTED';
  readonly grpcStatus = GrpcStatus.RESOURCE_EXHAUSTED;
}

/** The peer stopped reading and too much is queued for it: the connection is given up. */
export class PeerNotReadingError extends UnavailableError {}
