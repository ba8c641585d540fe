// Streaming exec in a runc container (CRI Exec, kubectl exec): `runc exec`
// in the foreground, its stdio the session's.
//
// Without a terminal runc hands its own stdin/stdout/stderr to the process
// as they are, so the session holds the very pipes the process writes to:
// a client that stops reading stops the process at the pipe (backpressure
// with no buffer of ours in between). A stream not asked for is /dev/null.
//
// With a terminal: `runc exec --tty` without --detach. runc creates the
// container's pty (inside the container's devpts, so `tty` prints
// /dev/pts/N as the container sees it, and the process is a session leader
// with it as controlling terminal: job control works), and relays between
// it and its own stdio, which must itself be a terminal. So the session
// opens a pty pair, gives runc the slave and keeps the master. runc copies
// its stdio's window size onto the container's pty at start and on every
// SIGWINCH, which is how a resize reaches the process. This is what the
// guest agent does (agent/src/terminal.ts). The alternative, containerd's
// --console-socket (runc sends the container's pty master over a unix socket
// with SCM_RIGHTS), saves the relay but needs fd passing Node lacks, a
// listener per exec, and resize by ioctl on a received fd; runc's own relay
// is proven and keeps runc our child, reaped here.
//
// The exit code is runc's: it exits with the process's status (128+n when a
// signal killed it). close() kills the exec'd process itself (its host PID
// from --pid-file): killing only runc would leave it running in the container.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { rm } from 'node:fs/promises';
import { finished, Writable } from 'node:stream';
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from '../../../common/errors';
import { openPty, ptyMasterStream, setWindowSize } from '../../../common/native/pty';
import type { FdStream } from '../../../common/native/fd-stream';
import type { ProcessIO, StreamOptions, TerminalSize } from '../controller';

/** How long `runc exec` gets to exit after its process was killed, before runc itself is. */
const RUNC_GRACE_MS = 5_000;
/** How often close() looks for the PID file when runc has not written it yet. */
const PID_POLL_MS = 20;
/** End-of-transmission (^D): closing stdin on a terminal; the container's pty in canonical mode makes it end-of-file. */
const EOT = Buffer.from([0x04]);

export interface ExecStreamOptions {
  runcBinary: string;
  runcRoot: string;
  id: string;
  cmd: string[];
  streams: StreamOptions;
  /** Where runc writes the exec'd process's host PID; removed when the session ends. */
  pidFile: string;
}

/** runc's exit status as the process's exit code. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  // runc itself was killed by a signal (close() after the grace time: SIGKILL).
  return 128 + (signal ? osConstants.signals[signal] : osConstants.signals.SIGKILL);
}

/** A terminal size as TIOCSWINSZ takes it; refuses what does not fit 16 bits. */
export function checkTerminalSize(size: TerminalSize): { rows: number; cols: number } {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(size.width) || !ok(size.height)) throw new InvalidArgumentError('size', `${size.width}x${size.height} does not fit a terminal (0..65535 each)`);
  return { rows: size.height, cols: size.width };
}

export function startExec(o: ExecStreamOptions): ProcessIO {
  return o.streams.tty ? startTtyExec(o) : startPipeExec(o);
}

function runcArgs(o: ExecStreamOptions, tty: boolean): string[] {
  return ['--root', o.runcRoot, 'exec', ...(tty ? ['--tty'] : []), '--pid-file', o.pidFile, o.id, ...o.cmd];
}

/**
 * What both kinds share: killing the process on close(), the grace timer,
 * the PID file, and `done` once runc has exited and `outputDone` settled.
 */
class Session {
  exited = false;
  private closed = false;
  private timers: NodeJS.Timeout[] = [];
  readonly done: Promise<{ exitCode: number }>;

  constructor(
    private readonly o: ExecStreamOptions,
    readonly child: ChildProcess,
    outputDone: () => Promise<void>,
    private readonly release: () => void,
  ) {
    const exit = new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        this.exited = true;
        reject(e.code === 'ENOENT' ? new UnavailableError(`${o.runcBinary} is not installed`) : e);
      });
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.clearTimers();
        resolve(exitCodeOf(code, signal));
      });
    });
    this.done = Promise.all([exit, outputDone()]).then(
      ([exitCode]) => this.finish({ exitCode }),
      (err: unknown) => this.finish(Promise.reject(err instanceof Error ? err : new Error(String(err)))),
    );
  }

  private async finish<T>(v: T | Promise<T>): Promise<T> {
    this.clearTimers();
    this.release();
    await rm(this.o.pidFile, { force: true }).catch(() => undefined);
    return v;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /** The client went away: kill the exec'd process (runc then exits with its status). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The kill comes before the pipes close: a process writing to a pipe
    // closed first died of SIGPIPE instead (exit 141, not 137), a race that
    // failed a CI run. A SIGKILL already sent decides the exit status.
    if (!this.exited) {
      this.killProcess();
      this.timers.push(setTimeout(() => this.child.kill('SIGKILL'), RUNC_GRACE_MS));
    }
    this.release();
  }

  // While runc has not exited, the PID in its file is its child's, alive or
  // a zombie runc has not reaped: it cannot have been reused.
  private killProcess(): void {
    if (this.exited) return;
    let pid = 0;
    try {
      pid = Number(readFileSync(this.o.pidFile, 'utf8').trim());
    } catch {
      // runc has not started the process yet: look again shortly.
    }
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      return;
    }
    this.timers.push(setTimeout(() => this.killProcess(), PID_POLL_MS));
  }
}

function startPipeExec(o: ExecStreamOptions): ProcessIO {
  const s = o.streams;
  const child = spawn(o.runcBinary, runcArgs(o, false), { stdio: [s.stdin ? 'pipe' : 'ignore', s.stdout ? 'pipe' : 'ignore', s.stderr ? 'pipe' : 'ignore'] });
  // A client gone away must not crash the daemon through an unhandled EPIPE.
  child.stdin?.on('error', () => undefined);
  const release = () => {
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  // All output delivered: ChildProcess 'close' comes after every pipe ended
  // and was consumed (or was destroyed by close()).
  const outputDone = () => new Promise<void>((resolve) => child.once('close', () => resolve()));
  const session = new Session(o, child, outputDone, release);
  return {
    stdin: child.stdin ?? undefined,
    stdout: child.stdout ?? undefined,
    stderr: child.stderr ?? undefined,
    resize: () => Promise.reject(new FailedPreconditionError(`exec in container ${o.id} has no terminal to resize`)),
    done: session.done,
    close: () => session.close(),
  };
}

function startTtyExec(o: ExecStreamOptions): ProcessIO {
  const s = o.streams;
  const { master, slave } = openPty();
  let out: FdStream;
  let child: ChildProcess;
  try {
    out = ptyMasterStream(master);
  } catch (err) {
    closeSync(master);
    closeSync(slave);
    throw err;
  }
  try {
    child = spawn(o.runcBinary, runcArgs(o, true), { stdio: [slave, slave, slave] });
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    // runc has its copies; ours would keep the master from ever reaching EIO.
    closeSync(slave);
  }
  out.on('error', () => undefined);
  // Output nobody asked for is still read, or the process would block on a full pty.
  if (!s.stdout) out.resume();
  const release = () => out.destroy();
  // The master's read side ends (EIO) once runc, the slave's last holder, has
  // exited, and after everything before it was read: the last output is never cut.
  const outputDone = () => new Promise<void>((resolve) => finished(out, { writable: false }, () => resolve()));
  const session = new Session(o, child, outputDone, release);
  const stdin = s.stdin
    ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (out.destroyed) return cb();
          out.write(chunk, (err) => cb(err ?? null));
        },
        final(cb) {
          if (out.destroyed) return cb();
          out.write(EOT, () => cb());
        },
      })
    : undefined;
  stdin?.on('error', () => undefined);
  return {
    stdin,
    stdout: s.stdout ? out : undefined,
    resize: (size: TerminalSize) => {
      let ws: { rows: number; cols: number };
      try {
        ws = checkTerminalSize(size);
      } catch (err) {
        return Promise.reject(err);
      }
      // A resize may race the exit: once the output ended there is nothing to size.
      if (session.exited || out.destroyed || out.fd < 0) return Promise.resolve();
      setWindowSize(out.fd, ws);
      child.kill('SIGWINCH');
      return Promise.resolve();
    },
    done: session.done,
    close: () => {
      session.close();
      stdin?.destroy();
    },
  };
}
