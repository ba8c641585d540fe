// The CLI's side of a `vmpod debug` session: the request line, then frames
// (frames.ts) between this process's stdio and the guest process. On a
// terminal the local tty is put in raw mode, so every key (^C, ^D, arrows)
// goes to the guest's pty as typed, and restored however the session ends;
// window size changes follow (SIGWINCH → resize frame). Output is written
// with backpressure: a slow local terminal pauses the socket, and through
// the daemon and the agent the guest process.

import { connect } from 'node:net';
import { connectProblem } from './client';
import { CHANNEL, encodeFrame, FrameReader, MAX_DAEMON_FRAME, parseExit } from './frames';
import { encodeRequest, parseResponse, type DebugRequest } from './protocol';

/** Signals that would otherwise leave the operator's terminal in raw mode. */
const RAW_MODE_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

/** The exit code when the session was lost without the guest process's status (ssh's choice). */
export const SESSION_LOST_EXIT = 255;

export interface DebugStdio {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { rows?: number; columns?: number; on(e: 'resize', f: () => void): unknown; off(e: 'resize', f: () => void): unknown };
  stderr: NodeJS.WritableStream;
}

/** Runs the session; resolves with the exit code to leave with (the guest process's, 1 for a refusal, 255 for a lost session). */
export function debugSession(path: string, req: DebugRequest, io: DebugStdio, say: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const sock = connect(path);
    let connected = false;
    let line: Buffer = Buffer.alloc(0);
    let streaming = false;
    let result: number | undefined;
    const reader = new FrameReader(MAX_DAEMON_FRAME, [CHANNEL.stdout, CHANNEL.stderr, CHANNEL.exit]);
    const raw = req.tty && io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';

    const onStdin = (b: Buffer): void => {
      if (!sock.write(encodeFrame(CHANNEL.stdin, b))) {
        io.stdin.pause();
        sock.once('drain', () => io.stdin.resume());
      }
    };
    const onStdinEnd = (): void => {
      if (!sock.destroyed) sock.write(encodeFrame(CHANNEL.closeStdin));
    };
    const onResize = (): void => {
      if (io.stdout.rows && io.stdout.columns) sock.write(encodeFrame(CHANNEL.resize, JSON.stringify({ rows: io.stdout.rows, cols: io.stdout.columns })));
    };
    // Killed politely while the local terminal is raw: restore it and end the session (which ends the guest process).
    const onSignal = (sig: NodeJS.Signals): void => finish(SESSION_LOST_EXIT, `${sig}: the debug session was ended`);
    let done = false;
    const finish = (code: number, message?: string): void => {
      if (done) return;
      done = true;
      if (raw) for (const sig of RAW_MODE_SIGNALS) process.off(sig, onSignal);
      io.stdin.off('data', onStdin);
      io.stdin.off('end', onStdinEnd);
      io.stdout.off('resize', onResize);
      if (raw) io.stdin.setRawMode!(false);
      // Nothing of the local stdin may keep the CLI alive once the session has ended.
      io.stdin.pause();
      sock.destroy();
      if (message) say(message);
      resolve(code);
    };

    const startStreaming = (rest: Buffer): void => {
      streaming = true;
      if (raw) {
        io.stdin.setRawMode!(true);
        for (const sig of RAW_MODE_SIGNALS) process.on(sig, onSignal);
      }
      io.stdin.on('data', onStdin);
      io.stdin.on('end', onStdinEnd);
      io.stdin.resume();
      if (req.tty) io.stdout.on('resize', onResize);
      if (rest.length > 0) onFrames(rest);
    };

    const onFrames = (chunk: Buffer): void => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        finish(SESSION_LOST_EXIT, `the daemon broke the debug stream on ${path}: ${(err as Error).message}`);
        return;
      }
      for (const f of frames) {
        if (f.channel === CHANNEL.exit) {
          let exit;
          try {
            exit = parseExit(f.payload);
          } catch (err) {
            finish(SESSION_LOST_EXIT, (err as Error).message);
            return;
          }
          if ('exitCode' in exit) result = exit.exitCode;
          else return finish(SESSION_LOST_EXIT, `the debug session failed: ${exit.error.message} (${exit.error.code})`);
          continue;
        }
        const out = f.channel === CHANNEL.stdout ? io.stdout : io.stderr;
        if (!out.write(f.payload)) {
          sock.pause();
          out.once('drain', () => sock.resume());
        }
      }
    };

    sock.once('connect', () => {
      connected = true;
      sock.write(encodeRequest(req));
    });
    sock.on('data', (d: Buffer) => {
      if (streaming) return onFrames(d);
      line = Buffer.concat([line, d]);
      const nl = line.indexOf(0x0a);
      if (nl < 0) {
        if (line.length > 64 * 1024) finish(1, `the answer on ${path} is not an admin response`);
        return;
      }
      let res;
      try {
        res = parseResponse(line.subarray(0, nl).toString('utf8'));
      } catch (err) {
        return finish(1, (err as Error).message);
      }
      if (!res.ok) return finish(1, `${res.error.message} (${res.error.code})`);
      startStreaming(line.subarray(nl + 1));
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish(1, connectProblem(path, err.code, err.message));
      else finish(SESSION_LOST_EXIT, `the admin connection to ${path} failed: ${err.message}`);
    });
    sock.on('close', () => {
      if (result !== undefined) finish(result);
      else if (!streaming) finish(1, `the daemon closed ${path} without an answer`);
      else finish(SESSION_LOST_EXIT, 'the debug session ended without the exit status of its process (the daemon stopped?)');
    });
  });
}
