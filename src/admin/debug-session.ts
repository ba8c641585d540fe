// The daemon's side of a `vmpod debug` connection after its ok line: client
// frames (stdin, close-stdin, resize) go to the guest process, its stdout
// and stderr come back as frames, and one exit frame ends the connection
// (frames.ts). Backpressure holds both ways: a client that stops reading
// pauses the process's output (and so, through the agent's bounded buffer,
// the process itself); a process that does not read its stdin stops the
// daemon reading the socket. When the client goes away first, close()
// kills the guest process and everything of its session; nothing of the
// session outlives the connection either way.

import type { Socket } from 'node:net';
import { VmpodError } from '../../common/errors';
import type { Logger } from '../log';
import type { ProcessIO } from '../sandbox/controller';
import { CHANNEL, encodeFrame, FrameReader, MAX_CLIENT_FRAME, parseResize, type ExitMessage } from './frames';

function ended(s: NodeJS.ReadableStream | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
    s.once('error', () => resolve());
  });
}

/** Streams `io` over `socket`; `first` holds bytes the client sent after its request line. Resolves when the connection has closed. */
export function streamDebugSession(socket: Socket, io: ProcessIO, first: Buffer, log: Logger): Promise<void> {
  const reader = new FrameReader(MAX_CLIENT_FRAME, [CHANNEL.stdin, CHANNEL.resize, CHANNEL.closeStdin]);
  let finished = false;
  const finish = (msg: ExitMessage): void => {
    if (finished || socket.destroyed) return;
    finished = true;
    socket.end(encodeFrame(CHANNEL.exit, JSON.stringify(msg)));
  };
  const fail = (err: unknown): void => {
    const e = err instanceof VmpodError ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
    log.debug({ code: e.code, err: e.message }, 'debug session failed');
    finish({ error: e });
  };

  const onFrames = (chunk: Buffer): void => {
    let frames;
    try {
      frames = reader.push(chunk);
    } catch (err) {
      // A client breaking the framing gets told why; the process goes with the connection.
      fail(err);
      io.close();
      return;
    }
    for (const f of frames) {
      if (f.channel === CHANNEL.stdin) {
        if (!io.stdin || f.payload.length === 0) continue;
        if (!io.stdin.write(f.payload)) {
          socket.pause();
          io.stdin.once('drain', () => socket.resume());
        }
      } else if (f.channel === CHANNEL.closeStdin) {
        io.stdin?.end();
      } else {
        let size;
        try {
          size = parseResize(f.payload);
        } catch (err) {
          fail(err);
          io.close();
          return;
        }
        // A resize racing the process's end, or asked of a session without a terminal, changes nothing.
        io.resize({ width: size.cols, height: size.rows }).catch(() => undefined);
      }
    }
  };

  const pipe = (s: NodeJS.ReadableStream | undefined, channel: number): void => {
    s?.on('data', (b: Buffer) => {
      if (socket.destroyed) return;
      if (!socket.write(encodeFrame(channel, b))) {
        s.pause();
        socket.once('drain', () => s.resume());
      }
    });
  };

  socket.setTimeout(0);
  socket.on('data', onFrames);
  // The end of the client's side is the client going away, not the end of its stdin (that is a
  // close-stdin frame): a killed client's socket only says EOF, and a session left half-open
  // would keep its guest process running with nobody to read it.
  socket.on('end', () => socket.destroy());
  pipe(io.stdout, CHANNEL.stdout);
  pipe(io.stderr, CHANNEL.stderr);
  if (first.length > 0) onFrames(first);
  // The client's EOF came with its request (before this listened for it): it is gone already.
  if (socket.readableEnded) socket.destroy();
  Promise.all([io.done, ended(io.stdout), ended(io.stderr)]).then(
    ([{ exitCode }]) => finish({ exitCode }),
    (err: unknown) => fail(err),
  );
  return new Promise((resolve) => {
    socket.once('close', () => {
      // The client went away (or the exit was sent): the process and its session go; idempotent.
      io.close();
      resolve();
    });
  });
}
