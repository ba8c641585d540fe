// AF_UNIX SOCK_SEQPACKET client sockets, which Node's net module cannot open
// (it speaks SOCK_STREAM only). conmon serves a container's attach socket as
// one (src/sandbox/runc/attach.ts).

import { closeSync, constants, openSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadAddon, type NativeHandle } from './addon';
import { SyscallError } from './errno';

/** sun_path holds 108 bytes with its terminating NUL. */
const SUN_PATH_MAX = 107;

/**
 * A connected, non-blocking seqpacket socket at `path`: each read returns one
 * packet, each write sends one. A path too long for a socket address (a deep
 * state dir) is reached through a descriptor of its directory,
 * /proc/self/fd/<n>/<name>, as conmon itself does when it creates the socket.
 */
export function connectSeqpacket(path: string): NativeHandle {
  const addon = loadAddon();
  let fd: number;
  if (Buffer.byteLength(path) <= SUN_PATH_MAX) {
    fd = addon.unixSeqpacketConnect(path);
  } else {
    const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY); // libuv opens close-on-exec
    try {
      fd = addon.unixSeqpacketConnect(`/proc/self/fd/${dir}/${basename(path)}`);
    } finally {
      closeSync(dir);
    }
  }
  if (fd < 0) throw new SyscallError(fd, 'connect', path);
  return new addon.Handle(fd);
}
