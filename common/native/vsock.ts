// AF_VSOCK sockets as Node streams, on top of the vsock.node addon's
// non-blocking syscalls and uv_poll readiness events (see native/vsock/vsock.cc
// for why net.Socket cannot take an AF_VSOCK fd).
//
//   connect(cid, port, { timeoutMs })  → Promise<VsockSocket>   (host → guest agent)
//   listen(port, { cid })              → VsockServer            (agent in the guest)
//
// Safety rule of this project: never open a connection to the host (CID 2) or
// the hypervisor (CID 0); connect() refuses both unless `allowHostCid` is set.
// The host daemon only connects to CIDs it assigned to its own VMs.
import { loadAddon } from './addon';
import { VsockAddress, VsockError } from './errno';

export { VsockError, VsockAddress };
export { createHandle, VMADDR_CID_ANY, VMADDR_CID_HOST, VMADDR_CID_HYPERVISOR, VMADDR_CID_LOCAL, VMADDR_PORT_ANY } from './vsock-common';
export { checkConnectTarget, connect, socketPairForTest, VsockSocket, type ConnectOptions } from './vsock-socket';
export { listen, VsockServer, type ListenOptions } from './vsock-server';

/** This machine's own CID (from /dev/vsock); throws VsockError when there is no vsock device. */
export function localCid(): number {
  const r = loadAddon().localCid();
  if (r < 0) throw new VsockError(r, 'ioctl');
  return r;
}
