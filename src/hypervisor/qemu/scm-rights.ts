// Passing a file descriptor to QEMU over its QMP socket (SCM_RIGHTS), which
// QMP `getfd` then names: how a tap opened by the daemon reaches a VM whose
// QEMU runs in another network namespace.
//
// Node has no public API for SCM_RIGHTS on a unix socket. Its own
// child_process IPC sends handles through an IPC-mode pipe handle (the
// `pipe_wrap` binding), whose writes may carry one descriptor; the QMP
// connection is opened on such a handle so that any write can. The
// bindings are internal (process.binding, DEP0111: a documentation-only
// deprecation, a warning only under --pending-deprecation), so everything
// that touches them is here: if a Node release drops them, the QMP socket
// falls back to a plain one and fd passing says so, and this one module is
// what a native sendmsg helper would replace.

import { closeSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { FailedPreconditionError, InternalError, UnavailableError } from '../../../common/errors';

interface WriteReq {
  handle: unknown;
  async: boolean;
  oncomplete: (status: number) => void;
}

interface PipeHandle {
  open(fd: number): number;
  close(): void;
  writeUtf8String(req: WriteReq, text: string, sendHandle?: PipeHandle): number;
}

interface PipeBindings {
  Pipe: new (type: number) => PipeHandle;
  SOCKET: number;
  IPC: number;
  WriteWrap: new () => WriteReq;
  /** streamBaseState[kLastWriteWasAsync]: 0 when the write completed at once (then oncomplete never fires). */
  lastWriteWasAsync(): boolean;
}

function loadBindings(): PipeBindings | undefined {
  try {
    const proc = process as unknown as { binding(name: string): Record<string, unknown> };
    const pipe = proc.binding('pipe_wrap') as { Pipe?: PipeBindings['Pipe']; constants?: { SOCKET?: number; IPC?: number } };
    const stream = proc.binding('stream_wrap') as { WriteWrap?: PipeBindings['WriteWrap']; streamBaseState?: Int32Array; kLastWriteWasAsync?: number };
    const { Pipe, constants } = pipe;
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = stream;
    if (typeof Pipe !== 'function' || typeof WriteWrap !== 'function' || constants?.IPC === undefined || constants.SOCKET === undefined) return undefined;
    const lastWriteWasAsync = (): boolean => (streamBaseState && kLastWriteWasAsync !== undefined ? streamBaseState[kLastWriteWasAsync] !== 0 : true);
    return { Pipe, SOCKET: constants.SOCKET, IPC: constants.IPC, WriteWrap, lastWriteWasAsync };
  } catch {
    return undefined;
  }
}

const bindings = loadBindings();

/** Whether this Node can pass descriptors on a unix socket. */
export const fdPassingAvailable = bindings !== undefined;

/** A unix socket connection whose writes can carry a descriptor (a plain one where Node cannot). */
export function connectUnix(path: string): Socket {
  if (!bindings) return connect(path);
  // manualStart: a handle-backed socket would otherwise start reading before it is connected.
  const socket = new Socket({ handle: new bindings.Pipe(bindings.IPC), manualStart: true } as ConstructorParameters<typeof Socket>[0]);
  return socket.connect(path);
}

/**
 * Write `text` on `socket` (from connectUnix) with `fd` attached. The
 * descriptor is the receiver's afterwards: ours is closed once the write is
 * done or has failed (Node cannot dup it, so its wrapper closes it).
 */
export function writeWithFd(socket: Socket, text: string, fd: number): Promise<void> {
  if (!bindings) {
    closeSync(fd);
    return Promise.reject(new FailedPreconditionError(`passing fd ${fd} to QEMU needs Node's pipe_wrap binding, which this Node (${process.version}) lacks; open the tap by name instead`));
  }
  const handle = (socket as unknown as { _handle: PipeHandle | null })._handle;
  if (!handle || socket.destroyed) {
    closeSync(fd);
    return Promise.reject(new UnavailableError(`cannot pass fd ${fd}: the socket is closed`));
  }
  const carrier = new bindings.Pipe(bindings.SOCKET);
  const rc = carrier.open(fd);
  if (rc !== 0) {
    closeSync(fd);
    return Promise.reject(new InternalError(`cannot pass fd ${fd}: ${getSystemErrorName(rc)}`));
  }
  return new Promise<void>((resolve, reject) => {
    const done = (status: number): void => {
      carrier.close();
      if (status < 0) reject(new UnavailableError(`passing fd ${fd} failed: ${getSystemErrorName(status)}`));
      else resolve();
    };
    const req = new bindings.WriteWrap();
    req.handle = handle;
    req.async = false;
    req.oncomplete = done;
    let err: number;
    try {
      err = handle.writeUtf8String(req, text, carrier);
    } catch (e) {
      carrier.close();
      reject(new InternalError(`passing fd ${fd} failed: ${(e as Error).message}`, { cause: e }));
      return;
    }
    if (err !== 0) done(err);
    else if (!bindings.lastWriteWasAsync()) done(0);
  });
}
