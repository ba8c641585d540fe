// The agent's end of a process terminal. `crun run` / `crun exec` with
// `terminal: true` and no --detach need a terminal on their own stdio: crun
// creates the container's pty, then relays between it and its stdio (set to
// raw mode). So the agent gives crun the slave of a pty pair of its own and
// keeps the master: output and stdin go through it, and crun stays the
// agent's child, reaped like any other container. A resize does not: crun
// sizes the container's pty once at start (from consoleSize, or for an exec
// without one from its stdio) and never again, so ResizeTty sets the size on
// the container's pty itself (resizeProcessTty).

import { closeSync, constants, openSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { FdStream } from '../../common/native/fd-stream';
import { openPty, ptyMasterStream, setWindowSize, type WindowSize } from '../../common/native/pty';

/** End-of-transmission (^D): what closing stdin means on a terminal; the container's pty, in canonical mode, turns it into end-of-file. */
const EOT = Buffer.from([0x04]);

export class Terminal {
  /**
   * Master side; ends, then closes, when the last holder of the slave is
   * gone. Not a tty.ReadStream: libuv ends a tty's read side at the first
   * short read that comes with POLLHUP, and a pty master reports POLLHUP as
   * soon as the slave is closed, while the last bytes the process wrote may
   * still be on their way to the master's buffer; those were lost (measured:
   * 11 of 9000 runs under load, with a reader that resumed after the exit).
   * The shared FdStream reads until the read itself fails with EIO, which
   * the kernel returns only once nothing is left.
   */
  readonly output: FdStream;
  private slave: number;

  private constructor(master: number, slave: number) {
    this.slave = slave;
    this.output = ptyMasterStream(master);
    this.output.on('error', () => undefined);
    // The read side ended: the terminal is done (nothing can be written to a process that is gone).
    this.output.once('end', () => this.output.destroy());
  }

  static open(size?: WindowSize): Terminal {
    const { master, slave } = openPty();
    try {
      if (size && size.rows > 0 && size.cols > 0) setWindowSize(master, size);
      return new Terminal(master, slave);
    } catch (err) {
      closeSync(slave);
      closeSync(master);
      throw err;
    }
  }

  /** The fd to give the child as stdin, stdout and stderr. */
  get childFd(): number {
    if (this.slave < 0) throw new Error('terminal slave already released');
    return this.slave;
  }

  /** After the child has its copy: the agent's own copy would keep the output from ever ending. */
  releaseSlave(): void {
    if (this.slave < 0) return;
    closeSync(this.slave);
    this.slave = -1;
  }

  get open(): boolean {
    return !this.output.destroyed;
  }

  write(data: Uint8Array): void {
    this.output.write(Buffer.from(data));
  }

  sendEof(): void {
    if (this.open) this.output.write(EOT);
  }

  /** Sets the size the child reads from its stdio; a no-op once the output has ended (the fd is closed). */
  resize(size: WindowSize): void {
    if (this.open) setWindowSize(this.output.fd, size);
  }

  close(): void {
    this.releaseSlave();
    this.output.destroy();
  }
}

/**
 * Sets the window size of the terminal on process `pid`'s stdio (fd 0, else
 * 1, else 2: the pty crun made for it in the container), through
 * /proc/<pid>/fd, which opens that very pty; the kernel then sends SIGWINCH
 * to its foreground process group. False if none of the three is a terminal
 * (the process is gone or has redirected its stdio).
 */
export function resizeProcessTty(pid: number, size: WindowSize, proc = '/proc'): boolean {
  for (const n of [0, 1, 2]) {
    let fd: number;
    try {
      // O_NOCTTY: never the agent's controlling terminal; O_NONBLOCK: a pty never blocks an open, but a fifo on fd 0 would.
      fd = openSync(`${proc}/${pid}/fd/${n}`, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      if (!isatty(fd)) continue;
      setWindowSize(fd, size);
      return true;
    } finally {
      closeSync(fd);
    }
  }
  return false;
}
