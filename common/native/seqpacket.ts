// AF_UNIX SOCK_SEQPACKET client sockets, which Node's net module cannot open
// (it speaks SOCK_STREAM only). conmon serves a container's attach socket as
// one (src/sandbox/runc/attach.ts).

import { loadAddon, type NativeHandle } from './addon';
import { SyscallError } from './errno';

/** A connected, non-blocking seqpacket socket at `path`: each read returns one packet, each write sends one. */
export function connectSeqpacket(path: string): NativeHandle {
  const addon = loadAddon();
  const fd = addon.unixSeqpacketConnect(path);
  if (fd < 0) throw new SyscallError(fd, 'connect', path);
  return new addon.Handle(fd);
}
