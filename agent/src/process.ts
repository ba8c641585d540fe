// One process the agent runs for the host: a container's init (`crun run`) or
// an exec (`crun exec`), on pipes or on a terminal (terminal.ts). It owns the
// process's stdio: stdin, the bounded output buffers the host reads, the
// window size, and the wait for its exit. The exit is reported only once all
// output has been read from the pipes or pty, so none is lost; what the exit
// status says beyond the code (an OOM kill) the caller decides.

import { readFile } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/errors';
import type { WindowSize } from '../../common/native/pty';
import type { Child } from '../../common/native/spawn';
import { OutputBuffer, ReadResult } from './output-buffer';
import { signalNumber, type SpawnOptions, System } from './system';
import { resizeProcessTty, Terminal } from './terminal';
import { nowNs, sleep } from '../../common/time';

export interface ExitStatus {
  code: number;
  finishedAtNs: bigint;
  oomKilled: boolean;
}

export interface LaunchOptions {
  /** Keep stdin open for the host's writes. */
  stdin: boolean;
  /** Run on a new pty of this size (null: the kernel's default size); undefined: on pipes. */
  terminal: WindowSize | null | undefined;
  /** Names the process in errors ("c1/init"). */
  label: string;
  /** Called once, when the process has exited and all its output is buffered; returns whether it was OOM-killed. */
  exited: (code: number) => Promise<boolean>;
  /**
   * Called as soon as the spawned process itself has exited, before its
   * output has ended: what it left holding its pipes or pty (a background
   * child) would otherwise delay `exited` for as long as it runs.
   */
  leaderExited?: () => void;
  /**
   * Where `crun exec --pid-file` writes the pid of the process it runs (execs
   * only). crun forwards the signals it receives to that process, but it
   * cannot forward SIGKILL: killing crun would leave the process running.
   */
  pidFile?: string;
  /**
   * For a process on a terminal that the OCI runtime runs: the pid of the
   * process in the container once known, whose pty ResizeTty sizes (crun
   * relays that pty to ours but does not pass our resizes on). Absent (debug
   * processes, directly on our pty): a resize signals the child.
   */
  ttyPid?: () => number | undefined;
}

/** How long a signal waits for crun to write the pid file of a process it is still starting. */
export const PID_FILE_WAIT_MS = 10_000;
const PID_FILE_POLL_MS = 20;

/** Resolves when `w` drained, or can never drain (closed, failed). */
function drained(w: NodeJS.WritableStream & { once(e: string, f: () => void): unknown; off(e: string, f: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const e of ['drain', 'close', 'error']) w.off(e, done);
      resolve();
    };
    for (const e of ['drain', 'close', 'error']) w.once(e, done);
  });
}

export class GuestProcess {
  exit: ExitStatus | undefined;
  private child: Child | undefined;
  private terminal: Terminal | undefined;
  private stdinOpen = false;
  private readonly out = { stdout: new OutputBuffer(), stderr: new OutputBuffer() };
  private readonly exitWaiters = new Set<() => void>();
  /** Output streams still open; the exit is reported once they have all ended. */
  private openStreams = 0;
  private pendingExit: { code: number } | undefined;
  private exitReported = false;
  private readonly eofRead = { stdout: false, stderr: false };
  /**
   * The last size ResizeTty asked for while the process in the container was
   * not known yet (crun writes its pid once it runs): applied then, by the
   * one wait that runs while this is set.
   */
  private pendingTtySize: WindowSize | undefined;

  /** Not running yet: reads and waits block until start() and the process produce something. */
  constructor(private readonly opts: LaunchOptions) {}

  /** Spawns `cmd args` (crun, or a debug process); throws, with nothing left behind, if no pty can be had. */
  start(sys: System, cmd: string, args: string[], spawnOpts?: SpawnOptions): void {
    if (this.child) throw new FailedPreconditionError(`${this.opts.label} was already started`);
    if (this.opts.terminal === undefined) {
      this.attach(sys.spawn(cmd, args, undefined, spawnOpts));
      return;
    }
    const term = Terminal.open(this.opts.terminal ?? undefined);
    let child: Child;
    try {
      child = sys.spawn(cmd, args, term.childFd, spawnOpts);
    } catch (err) {
      term.close();
      throw err;
    } finally {
      term.releaseSlave();
    }
    this.terminal = term;
    this.attach(child);
  }

  /** The spawned process's pid (crun's for a container; 0 before start). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  kill(signal: NodeJS.Signals | number): void {
    if (!this.exit) this.child?.kill(signal);
  }

  /**
   * Signal the process itself: for an exec, the pid crun wrote to its pid
   * file (waiting for crun to write it if the process is still being
   * started); otherwise the spawned process (a debug process; the caller
   * signals a container's init with `crun kill`).
   */
  async signal(signal: number): Promise<void> {
    if (this.exit || this.pendingExit) return;
    const pid = this.opts.pidFile ? await this.targetPid(this.opts.pidFile) : undefined;
    // crun ended (or never wrote the file): crun itself is all there is to signal.
    if (pid === undefined) return this.kill(signal);
    // crun reaps the process before it exits: while crun runs, the pid is still the process's.
    if (this.exit || this.pendingExit) return;
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  private async targetPid(pidFile: string): Promise<number | undefined> {
    const end = Date.now() + PID_FILE_WAIT_MS;
    for (;;) {
      try {
        const pid = Number((await readFile(pidFile, 'utf8')).trim());
        if (Number.isInteger(pid) && pid > 1) return pid;
      } catch {
        // not there yet; crun writes it in place, so an empty file (pid 0 above) is retried too
      }
      if (!this.child || this.pendingExit || this.exit || Date.now() > end) return undefined;
      await sleep(PID_FILE_POLL_MS);
    }
  }

  /**
   * Answers once the process's pipe or pty took the bytes (or the stdin
   * closed meanwhile): the host sends one chunk at a time, so the agent never
   * holds more than that of a process that does not read its stdin.
   */
  async writeStdin(data: Uint8Array): Promise<number> {
    const closed = this.terminal ? !this.stdinOpen || !this.terminal.open : !this.child?.stdin || this.child.stdin.writableEnded || this.child.stdin.destroyed;
    if (closed) throw new FailedPreconditionError(`stdin of ${this.opts.label} is closed`);
    const w = this.terminal ? this.terminal.output : this.child!.stdin!;
    if (!w.write(Buffer.from(data))) await drained(w);
    return data.length;
  }

  closeStdin(): void {
    // A terminal has no write side to close without hanging up the whole
    // terminal: closing stdin types ^D, as a user at that terminal would.
    if (this.terminal && this.stdinOpen) this.terminal.sendEof();
    this.stdinOpen = false;
    this.child?.stdin?.end();
  }

  /** Window size of the terminal; ignored once the process has exited (a resize may race its exit). */
  resize(size: WindowSize): void {
    if (!this.terminal) throw new FailedPreconditionError(`${this.opts.label} has no terminal`);
    if (!Number.isInteger(size.rows) || !Number.isInteger(size.cols) || size.rows > 0xffff || size.cols > 0xffff) {
      throw new InvalidArgumentError('rows/cols', `${size.rows}x${size.cols} does not fit a terminal (0..65535 each)`);
    }
    if (this.exit || !this.terminal.open) return;
    this.terminal.resize(size);
    if (!this.opts.ttyPid) {
      this.child?.kill('SIGWINCH');
      return;
    }
    // The container's own pty. Before crun has named the process (a resize
    // racing the start: `kubectl exec -t` sends the first one at once) the
    // last size asked for waits for it.
    const pid = this.opts.ttyPid();
    if (pid !== undefined) {
      this.pendingTtySize = undefined;
      resizeProcessTty(pid, size);
      return;
    }
    const waiting = this.pendingTtySize !== undefined;
    this.pendingTtySize = size;
    if (!waiting) void this.resizeOnceKnown(this.opts.ttyPid);
  }

  /** Polls for the pid (as signal() does) while a size waits; gives up when the process ends or after PID_FILE_WAIT_MS. */
  private async resizeOnceKnown(ttyPid: () => number | undefined): Promise<void> {
    const end = Date.now() + PID_FILE_WAIT_MS;
    while (this.pendingTtySize && !this.exit && !this.pendingExit && this.terminal?.open && Date.now() <= end) {
      await sleep(PID_FILE_POLL_MS);
      const pid = ttyPid();
      const size = this.pendingTtySize;
      if (pid === undefined || !size) continue;
      this.pendingTtySize = undefined;
      try {
        resizeProcessTty(pid, size);
      } catch {
        // no caller to tell any more: the process keeps the size it has, as if the resize had come after it ended
      }
    }
    this.pendingTtySize = undefined;
  }

  async read(stream: 'stdout' | 'stderr', maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    const r = await this.out[stream].read(maxBytes, waitMs, signal);
    if (r.eof) this.eofRead[stream] = true;
    return r;
  }

  /** The host has been told the exit and has read both streams to their end: nothing of this process is left to ask for. */
  get collected(): boolean {
    return this.exitReported && this.eofRead.stdout && this.eofRead.stderr;
  }

  /** The exit status, waiting up to `waitMs` for it. */
  async wait(waitMs: number, signal?: AbortSignal): Promise<ExitStatus | undefined> {
    if (!this.exit && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.exitWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.exitWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    if (this.exit) this.exitReported = true;
    return this.exit;
  }

  /** Kill it if it still runs and let go of its terminal. */
  close(): void {
    this.kill('SIGKILL');
    this.terminal?.close();
  }

  private attach(child: Child): void {
    this.child = child;
    this.stdinOpen = this.opts.stdin;
    child.stdin?.on('error', () => undefined);
    if (!this.opts.stdin) child.stdin?.end();
    const outputs: Array<['stdout' | 'stderr', NodeJS.ReadableStream | null]> = this.terminal
      ? [['stdout', this.terminal.output]]
      : [
          ['stdout', child.stdout],
          ['stderr', child.stderr],
        ];
    // On a terminal, stderr is stdout: nothing will ever come on it.
    if (this.terminal) this.out.stderr.end();
    for (const [name, s] of outputs) {
      if (!s) continue;
      this.openStreams++;
      // Backpressure: a buffer half full holds the pipe or pty back until the host reads.
      s.on('data', (b: Buffer) => {
        if (!this.out[name].append(b, () => s.resume())) s.pause();
      });
      s.on('close', () => {
        this.out[name].end();
        if (--this.openStreams === 0 && this.pendingExit) void this.finish(this.pendingExit.code);
      });
    }
    const onExit = (code: number): void => {
      if (this.exit || this.pendingExit) return;
      this.pendingExit = { code };
      this.opts.leaderExited?.();
      if (this.openStreams === 0) void this.finish(code);
    };
    child.on('exit', (code, sig) => onExit(code ?? 128 + signalNumber(sig)));
    child.on('error', (err) => {
      this.out.stderr.append(Buffer.from(`vmpod-agent: cannot run ${this.opts.label}: ${err.message}\n`));
      this.out.stdout.end();
      this.out.stderr.end();
      this.openStreams = 0;
      onExit(127);
    });
  }

  private async finish(code: number): Promise<void> {
    const oomKilled = await this.opts.exited(code);
    if (this.exit) return;
    this.exit = { code, finishedAtNs: BigInt(nowNs()), oomKilled };
    for (const w of [...this.exitWaiters]) w();
  }
}
