// Which way an accepted CRI connection is served, decided by its first
// request.
//
// Most clients send an `:authority` nghttp2 accepts (kubelet and crictl 1.30+,
// grpc-js: `localhost`). For those the rewriter is pure cost: a JavaScript
// stream between the socket and the HTTP/2 session, and every header block
// decoded and re-encoded, about a fifth of the daemon's CPU per small call
// (docs/performance.md, issue 18). Such a connection is handed to nghttp2
// itself, which then reads the socket directly. A connection whose first
// request needs a change (kubelet before 1.30 sends the socket path) keeps
// the rewriter for its whole life, as every connection did before.
//
// Deciding needs the first request, and Go's gRPC client and grpc-js send it
// only after the server's SETTINGS, which only the session serving the
// connection could send. So the listener sends an empty SETTINGS frame of
// its own at once (a valid server preface; the session's own SETTINGS follow
// later as an update), reads the client's bytes through a RequestRewriter
// without serving them, and decides:
// * the first header block needed a change: the rewriter goes on serving the
//   connection, with what it produced so far;
// * it needed none, and the client has ACKed the listener's SETTINGS: the
//   client's bytes so far, without that ACK (the session did not send those
//   SETTINGS, and nghttp2 refuses an ACK it did not ask for), are replayed to
//   a session on the socket's own handle;
// * otherwise it waits for more bytes, up to a bound on bytes and on time,
//   after which the rewriter serves the connection (it drops the ACK
//   whenever it comes).
// A later request on a direct connection with an authority nghttp2 refuses
// is refused (RST_STREAM): gRPC clients send one authority per connection.

import { FRAME_HEADER_LENGTH } from './frame';
import { DEFAULT_REWRITE_LIMITS, RequestRewriter, type AuthorityRewrite, type RewriteLimits } from './request-rewriter';

/** The client's bytes held before a decision, at most: a first request is a few hundred bytes, its header limits far below this. */
export const MAX_HELD_BYTES = 1 << 20;

export type Handoff =
  | { kind: 'wait' }
  /** Serve on the socket's own handle, replaying `bytes` (what the client sent so far, less the ACK of the listener's SETTINGS). */
  | { kind: 'direct'; bytes: Buffer }
  /** Serve through `rewriter`; `pending` is what it has produced so far, to hand to the session first. */
  | { kind: 'rewrite'; rewriter: RequestRewriter; pending: Buffer[] };

const WAIT: Handoff = { kind: 'wait' };

export class HandoffDecider {
  private readonly rewriter: RequestRewriter;
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  private readonly produced: Buffer[] = [];

  constructor(limits: RewriteLimits = DEFAULT_REWRITE_LIMITS, onRewrite?: (r: AuthorityRewrite) => void) {
    this.rewriter = new RequestRewriter(limits, onRewrite, true);
  }

  /** The client's next bytes. Throws what the rewriter throws: the connection broke HTTP/2 and must be closed. */
  push(chunk: Buffer): Handoff {
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    this.produced.push(...this.rewriter.push(chunk));
    const first = this.rewriter.firstRequest;
    if (first === 'changed' || this.receivedBytes > MAX_HELD_BYTES) return this.rewrite();
    const ackAt = this.rewriter.ownSettingsAckAt;
    if (first === 'as-sent' && ackAt !== undefined) {
      const all = Buffer.concat(this.received);
      return { kind: 'direct', bytes: Buffer.concat([all.subarray(0, ackAt), all.subarray(ackAt + FRAME_HEADER_LENGTH)]) };
    }
    return WAIT;
  }

  /** No decision in time: the rewriter serves the connection. */
  rewrite(): Handoff {
    return { kind: 'rewrite', rewriter: this.rewriter, pending: this.produced.splice(0) };
  }
}
