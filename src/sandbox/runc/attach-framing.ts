// conmon's attach protocol, as its source defines it (src/ctr_stdio.c,
// src/conn_sock.c, src/ctrl.c, src/config.h; podman's container_attach.go
// speaks the same):
//  - the attach socket (`<bundle>/attach` with --full-attach) is AF_UNIX
//    SOCK_SEQPACKET; every packet conmon sends is one read of the container's
//    output, its first byte naming the pipe (utils.h's stdpipe_t: 0 none,
//    1 stdin, 2 stdout, 3 stderr; with a terminal all is stdout), at most
//    STDIO_BUF_SIZE (8192) bytes of data after it;
//  - every packet the client sends is written to the container's stdin as it
//    is; conmon reads CONN_SOCK_BUF_SIZE (32768) bytes at a time and a longer
//    packet would be cut, so stdin goes in packets no longer than that;
//  - the client shutting its write side down (or going away) closes the
//    container's stdin when it was created with stdin_once;
//  - a resize is a line "<type> <height> <width>\n" with type 1 written to the
//    `ctl` FIFO in the bundle (type 2 is "reopen the log"); newer conmons
//    drop sizes over 1000, so larger ones are clamped to it.

import { InvalidArgumentError } from '../../../common/errors';
import type { TerminalSize } from '../controller';

/** Bytes of one packet read from the socket: the stream byte and up to 8192 of data. */
export const ATTACH_READ_BYTES = 8192 + 1;
/** The longest stdin packet conmon reads whole. */
export const ATTACH_WRITE_MAX = 32768;
/** conmon's stream ids (stdpipe_t; podman's AttachPipeStdout/AttachPipeStderr). */
export const STDOUT_PIPE = 2;
export const STDERR_PIPE = 3;
/** conmon's ctl message types (src/config.h). */
export const CTL_WIN_RESIZE = 1;
/** The largest height or width conmon accepts (src/ctrl.c). */
export const CTL_MAX_SIZE = 1000;

export type AttachPacket = { stream: 'stdout' | 'stderr'; data: Buffer } | { stream: 'unknown'; id: number };

/** One packet from the attach socket; `data` is a view into `packet`. */
export function parseAttachPacket(packet: Buffer): AttachPacket | null {
  if (packet.length === 0) return null;
  const id = packet[0];
  if (id === STDOUT_PIPE) return { stream: 'stdout', data: packet.subarray(1) };
  if (id === STDERR_PIPE) return { stream: 'stderr', data: packet.subarray(1) };
  return { stream: 'unknown', id };
}

/** `data` cut into packets conmon reads whole. */
export function stdinPackets(data: Buffer, max = ATTACH_WRITE_MAX): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += max) out.push(data.subarray(off, off + max));
  return out;
}

/** The ctl FIFO line that resizes the container's terminal. */
export function resizeMessage(size: TerminalSize): string {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(size.width) || !ok(size.height)) throw new InvalidArgumentError('size', `${size.width}x${size.height} does not fit a terminal (0..65535 each)`);
  // A terminal wider than conmon takes gets the widest it takes, rather than a lost resize.
  return `${CTL_WIN_RESIZE} ${Math.min(size.height, CTL_MAX_SIZE)} ${Math.min(size.width, CTL_MAX_SIZE)}\n`;
}
