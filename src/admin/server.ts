// The admin socket: root only (0600, root:root, made so before any client can
// connect: the socket is bound under a 0177 umask), one JSON request and one
// JSON answer per connection (protocol.ts), except a `debug` session, which
// streams until its process exits or the client goes away. It answers from AdminPods, never
// from QEMU or a guest directly. Every connection is bounded in the bytes it
// may send and in time, and is destroyed at close().

import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { FailedPreconditionError, VmpodError } from '../../common/errors';
import type { Logger } from '../log';
import type { AdminPods } from './pods-view';
import { streamDebugSession } from './debug-session';
import { encodeResponse, MAX_REQUEST_BYTES, parseRequest, type AdminResponse, type DebugRequest } from './protocol';

/** A client that has not sent its request line by then is dropped. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface AdminListener {
  readonly path: string;
  /** Connections open now (a leak check). */
  readonly connections: number;
  /** Stop accepting, destroy open connections, remove the socket file. */
  close(): Promise<void>;
}

function refusal(err: unknown): AdminResponse {
  if (err instanceof VmpodError) return { ok: false, error: { code: err.code, message: err.message } };
  return { ok: false, error: { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) } };
}

export async function answerLine(pods: AdminPods, line: string): Promise<AdminResponse> {
  try {
    const req = parseRequest(line);
    if (req.cmd === 'debug') throw new FailedPreconditionError('debug streams a session: it is answered on a connection of its own (serve), not as one line');
    return { ok: true, result: await pods.answer(req) };
  } catch (err) {
    return refusal(err);
  }
}

/**
 * `debug`: the guest process is started before the ok line is sent, so a
 * refusal (off in config, no such pod, the guest said no) is an ordinary
 * one-line answer; after ok the connection is the session's (debug-session.ts).
 */
async function serveDebug(socket: Socket, pods: AdminPods, req: DebugRequest, rest: Buffer, log: Logger): Promise<void> {
  let opened;
  try {
    if (!pods.openDebug) throw new FailedPreconditionError('this daemon offers no debug sessions');
    opened = await pods.openDebug(req);
  } catch (err) {
    const res = refusal(err);
    if (!res.ok) log.debug({ code: res.error.code, err: res.error.message }, 'admin debug request refused');
    if (!socket.destroyed) socket.end(encodeResponse(res));
    return;
  }
  if (socket.destroyed) {
    opened.io.close();
    return;
  }
  log.info({ podSandboxId: opened.pod, argv: req.argv.slice(0, 8).join(' ').slice(0, 256), tty: req.tty }, 'debug session opened');
  socket.write(encodeResponse({ ok: true, result: { debug: { pod: opened.pod } } }));
  socket.resume();
  await streamDebugSession(socket, opened.io, rest, log);
  log.info({ podSandboxId: opened.pod }, 'debug session closed');
}

function serve(socket: Socket, pods: AdminPods, log: Logger): void {
  let buf: Buffer = Buffer.alloc(0);
  let answered = false;
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => undefined); // a client that went away: nothing to tell it
  const reply = (line: string, rest: Buffer) => {
    answered = true;
    socket.pause();
    socket.setTimeout(0);
    socket.removeListener('data', onData);
    let req;
    try {
      req = parseRequest(line);
    } catch {
      req = undefined; // answerLine says why
    }
    if (req?.cmd === 'debug') {
      void serveDebug(socket, pods, req, rest, log);
      return;
    }
    void answerLine(pods, line).then((res) => {
      if (!res.ok) log.debug({ code: res.error.code, err: res.error.message }, 'admin request refused');
      if (socket.destroyed) return;
      // A client that never ends its own side after the answer does not hold the connection.
      socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
      socket.end(encodeResponse(res));
    });
  };
  const onData = (chunk: Buffer) => {
    if (answered) return;
    buf = Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(0x0a);
    if (nl >= 0) reply(buf.subarray(0, nl).toString('utf8'), buf.subarray(nl + 1));
    else if (buf.length > MAX_REQUEST_BYTES) reply(buf.toString('utf8'), Buffer.alloc(0)); // parseRequest refuses it by its length
  };
  socket.on('data', onData);
  socket.on('end', () => {
    if (!answered) reply(buf.toString('utf8'), Buffer.alloc(0));
  });
}

export function listenAdmin(path: string, pods: AdminPods, log: Logger): Promise<AdminListener> {
  /** Each open connection, and when it has closed. */
  const open = new Map<Socket, Promise<void>>();
  // Half-open: a client may end its side right after its request (EOF instead of a newline) and still read the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    open.set(
      socket,
      new Promise<void>((done) =>
        socket.once('close', () => {
          open.delete(socket);
          done();
        }),
      ),
    );
    serve(socket, pods, log);
  });
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(new FailedPreconditionError(`cannot listen on the admin socket ${path}: ${err.message}`, { cause: err }));
    server.once('error', failed);
    // The bind is synchronous in listen(): under this umask the socket is 0600 from its first moment.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', failed);
        server.on('error', (err) => log.error({ err: err.message, socket: path }, 'accepting an admin connection failed'));
        try {
          chmodSync(path, 0o600);
          chownSync(path, 0, 0);
        } catch (err) {
          server.close();
          failed(err as Error);
          return;
        }
        resolve({
          path,
          get connections() {
            return open.size;
          },
          close: async () => {
            const closed = new Promise<void>((done) => server.close(() => done()));
            const gone = [...open].map(([s, done]) => (s.destroy(), done));
            await Promise.all([closed, ...gone]);
            rmSync(path, { force: true });
          },
        });
      });
    } finally {
      process.umask(umask);
    }
  });
}
