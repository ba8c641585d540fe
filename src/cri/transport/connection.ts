// One accepted CRI connection as the stream the gRPC server's HTTP/2 session reads:
// bytes from the client go through the RequestRewriter, bytes to the client
// go to the socket untouched. Back-pressure holds in both directions (the
// socket is paused while the server has not read what it was given; a
// write completes when the socket takes it), and the two ends close
// together: whichever side closes or fails, the other is destroyed, so no
// socket or HTTP/2 session outlives its peer.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { RequestRewriter } from './request-rewriter';

export class RewritingConnection extends Duplex {
  /**
   * `rewriter` has read the client's bytes so far (handoff.ts) and produced
   * `pending` from them, which the session reads first. `onViolation`: the
   * client broke the protocol or a limit; the connection is being closed.
   */
  constructor(
    private readonly socket: Socket,
    private readonly rewriter: RequestRewriter,
    pending: readonly Buffer[],
    onViolation: (err: Error) => void,
  ) {
    super();
    let room = true;
    for (const p of pending) room = this.push(p);
    if (!room) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      let pieces: Buffer[];
      try {
        pieces = this.rewriter.push(chunk);
      } catch (err) {
        onViolation(err as Error);
        this.destroy();
        return;
      }
      let more = true;
      for (const p of pieces) more = this.push(p);
      if (!more) socket.pause();
    });
    socket.on('end', () => this.push(null));
    // 'close' always follows 'error'; the error itself is the client's business.
    socket.on('error', () => undefined);
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) done();
    else this.socket.once('drain', () => done());
  }

  // The HTTP/2 session hands over a response's frames together (JSStreamSocket
  // corks around them): pass them to the socket in one writev, not one write each.
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk);
    this.socket.uncork();
    if (ok) done();
    else this.socket.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}
