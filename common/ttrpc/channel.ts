// One ttRPC connection's byte pump: frames in through the parser, frames out
// as single writes. Whatever happens in a frame handler or the parser, nothing
// throws out of the stream's 'data' handler: a violation destroys this
// connection (with a typed error) and nothing else.

import { Duplex } from 'node:stream';
import { encodeFrame, Frame, MAX_FRAME_LENGTH, MessageType } from './frame';
import { FrameParser } from './parser';
import { ConnectionClosedError, PeerNotReadingError, ProtocolViolationError } from './errors';

export type FrameHandler = (f: Frame) => void;

/**
 * Bytes we let pile up unsent before deciding the peer has stopped reading.
 * Without a bound, a guest that never reads would make the host buffer every
 * request (up to 4 MiB each) until the connection closes.
 */
export const MAX_UNSENT_BYTES = 16 << 20;

export class FrameChannel {
  readonly parser: FrameParser;
  private closedWith: Error | undefined;
  private readonly closeListeners: Array<(err: Error) => void> = [];

  constructor(
    private readonly sock: Duplex,
    onFrame: FrameHandler,
    maxFrameLength = MAX_FRAME_LENGTH,
    private readonly maxUnsent = MAX_UNSENT_BYTES,
  ) {
    this.parser = new FrameParser(maxFrameLength);
    sock.on('data', (chunk: Buffer | string) => {
      if (this.closedWith) return;
      try {
        const { frames, violation } = this.parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        for (const f of frames) {
          if (this.closedWith) return;
          onFrame(f);
        }
        if (violation) this.fail(new ProtocolViolationError(violation.reason));
      } catch (err) {
        // A bug in a handler must still cost only this connection.
        this.fail(new ProtocolViolationError(`frame handler failed: ${(err as Error).message}`));
      }
    });
    sock.on('error', (err) => this.fail(new ConnectionClosedError(`ttrpc transport error: ${err.message}`, { cause: err })));
    sock.on('end', () => this.fail(new ConnectionClosedError('ttrpc peer closed the connection')));
    sock.on('close', () => this.fail(new ConnectionClosedError('ttrpc connection closed')));
  }

  get closed(): Error | undefined {
    return this.closedWith;
  }

  get writableNeedDrain(): boolean {
    return this.sock.writableNeedDrain;
  }

  /** Resolves when the transport can take more (or is gone). */
  drained(): Promise<void> {
    if (this.closedWith || !this.sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  send(streamId: number, type: MessageType, flags: number, payload: Uint8Array): boolean {
    if (this.closedWith) return false;
    const frame = encodeFrame(streamId, type, flags, payload);
    if (this.sock.writableLength + frame.length > this.maxUnsent) {
      this.fail(new PeerNotReadingError(`ttrpc peer is not reading: more than ${this.maxUnsent} bytes would be queued unsent`));
      return false;
    }
    this.sock.write(frame);
    return true;
  }

  onClose(fn: (err: Error) => void): void {
    if (this.closedWith) fn(this.closedWith);
    else this.closeListeners.push(fn);
  }

  /** Tear the connection down once; listeners learn the first reason. */
  fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.sock.destroy();
    for (const fn of this.closeListeners.splice(0)) {
      try {
        fn(err);
      } catch {
        // listeners must not break teardown
      }
    }
  }
}
