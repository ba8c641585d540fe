// Pseudo-terminal syscalls from the vsock.node addon (Node has none that hand
// out a pty pair or set its window size). The guest agent uses them for
// containers and execs with `terminal: true` (agent/src/terminal.ts), the runc
// controller for `runc exec --tty` (src/sandbox/runc/exec-stream.ts).

import { loadAddon } from './addon';
import { errnoOf, SyscallError } from './errno';
import { FdStream } from './fd-stream';

const EIO = errnoOf('EIO');

export interface PtyPair {
  /** Kept by the caller: reading it yields what the child writes, writing it is the child's input. */
  master: number;
  /** Given to the child as stdin, stdout and stderr; raw mode. */
  slave: number;
}

export interface WindowSize {
  rows: number;
  cols: number;
}

/** A new pty pair; both fds are close-on-exec and owned by the caller. */
export function openPty(): PtyPair {
  const r = loadAddon().openPty();
  if (typeof r === 'number') throw new SyscallError(r, 'openpty');
  return { master: r[0], slave: r[1] };
}

export function setWindowSize(fd: number, size: WindowSize): void {
  const r = loadAddon().setWinsize(fd, size.rows, size.cols);
  if (r < 0) throw new SyscallError(r, 'ioctl', 'TIOCSWINSZ');
}

export function getWindowSize(fd: number): WindowSize {
  const r = loadAddon().getWinsize(fd);
  if (typeof r === 'number') throw new SyscallError(r, 'ioctl', 'TIOCGWINSZ');
  return r;
}

/**
 * The master as a stream (takes ownership of the fd). Its read side ends
 * when every copy of the slave is closed (EIO), after all output before that
 * was delivered; see fd-stream.ts for why not tty.ReadStream.
 */
export function ptyMasterStream(master: number): FdStream {
  const addon = loadAddon();
  return new FdStream(new addon.Handle(master), { label: 'pty master', eofErrnos: [EIO] });
}
