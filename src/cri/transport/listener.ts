// The CRI socket. The daemon accepts connections itself and decides, from
// each one's first request (handoff.ts), whether its gRPC server's HTTP/2
// session reads the socket directly or through the RequestRewriter (see
// request-rewriter.ts and authority.ts for why it exists): that is what lets
// every :authority a kubelet or crictl has ever sent reach the server, while
// the clients that send one nghttp2 accepts pay nothing for it.

import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FailedPreconditionError } from '../../../common/errors';
import type { Logger } from '../../log';
import { RewritingConnection } from './connection';
import { EMPTY_SETTINGS_FRAME } from './frame';
import { HandoffDecider, type Handoff } from './handoff';
import type { RewriteLimits } from './request-rewriter';

/** What serves HTTP/2 on a connection the listener accepted (src/cri/grpc/server.ts). */
export interface ConnectionServer {
  serve(conn: Duplex): void;
}

export interface ListenOptions {
  limits?: RewriteLimits;
  /**
   * How long a connection may take to show its first request and ACK the
   * listener's SETTINGS before the rewriter serves it anyway, ms. Real
   * clients do both within a round trip of connecting; a client that waits
   * for something else first (its own SETTINGS' ACK) is then served as
   * every connection was before, a little later.
   */
  decideWithinMs?: number;
}

export const DEFAULT_DECIDE_WITHIN_MS = 1000;

export interface CriListener {
  /** Connections open now: accepted, and not yet closed both on the client's side and on the server's. */
  readonly connections: number;
  /**
   * Stop accepting, destroy every connection still open (the server's
   * close() has normally closed their sessions already), and remove the
   * socket file. Resolves when the listening socket and every connection are closed.
   */
  close(): Promise<void>;
}

interface Accepted {
  /** The stream the session reads, when it is not the socket itself. */
  conn?: RewritingConnection;
}

const whenClosed = (x: Duplex): Promise<void> => (x.closed ? Promise.resolve() : new Promise((done) => x.once('close', () => done())));

/** Resolves once the socket and the rewriting stream (if it has one) are both closed. */
async function allClosed(socket: Socket, a: Accepted): Promise<void> {
  await whenClosed(socket);
  if (a.conn) await whenClosed(a.conn);
}

export function listenCri(server: ConnectionServer, path: string, log: Logger, opts: ListenOptions = {}): Promise<CriListener> {
  /** Each accepted connection until its socket and its rewriting stream (once there is one) are closed, and what resolves then. */
  const open = new Map<Socket, { accepted: Accepted; gone: Promise<void> }>();
  let accepted = 0;
  const decideWithinMs = opts.decideWithinMs ?? DEFAULT_DECIDE_WITHIN_MS;
  const net = createServer((socket) => {
    const id = ++accepted;
    const entry: Accepted = {};
    open.set(socket, { accepted: entry, gone: allClosed(socket, entry).then(() => void open.delete(socket)) });
    let told = false;
    const decider = new HandoffDecider(opts.limits, (r) => {
      if (told) return;
      told = true;
      log.debug({ connection: id, field: r.name, sent: r.from, passedOn: r.to }, 'client sent an authority nghttp2 refuses; passing it on percent-encoded');
    });
    const violation = (err: Error) => log.warn({ connection: id, err: err.message }, 'closing a CRI connection that broke HTTP/2');
    const settle = (h: Handoff): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      // Paused, so that nothing reads the replayed bytes before the session does.
      socket.pause();
      if (h.kind === 'direct') {
        log.debug({ connection: id }, 'serving a CRI connection on its socket directly');
        socket.unshift(h.bytes);
        server.serve(socket);
      } else if (h.kind === 'rewrite') {
        log.debug({ connection: id }, 'serving a CRI connection through the authority rewriter');
        entry.conn = new RewritingConnection(socket, h.rewriter, h.pending, violation);
        server.serve(entry.conn);
      }
    };
    const onData = (chunk: Buffer): void => {
      let h: Handoff;
      try {
        h = decider.push(chunk);
      } catch (err) {
        violation(err as Error);
        socket.destroy();
        return;
      }
      if (h.kind !== 'wait') settle(h);
    };
    // The client ended its side before a request could be decided: there is nothing to answer.
    const onEnd = (): void => void socket.destroy();
    const timer = setTimeout(() => settle(decider.rewrite()), decideWithinMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    // 'close' always follows 'error'; the error itself is the client's business.
    socket.on('error', () => undefined);
    socket.once('close', () => clearTimeout(timer));
    socket.write(EMPTY_SETTINGS_FRAME);
  });
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(new FailedPreconditionError(`cannot listen on ${path}: ${err.message}`, { cause: err }));
    net.once('error', failed);
    net.listen(path, () => {
      net.off('error', failed);
      // An accept that fails (EMFILE, say) must not take the daemon down.
      net.on('error', (err) => log.error({ err: err.message, socket: path }, 'accepting a CRI connection failed'));
      resolve({
        get connections() {
          return open.size;
        },
        close: async () => {
          const stopped = new Promise<void>((done) => net.close(() => done()));
          const gone = [...open].map(([socket, { accepted, gone }]) => {
            accepted.conn?.destroy();
            socket.destroy();
            return gone;
          });
          await Promise.all([stopped, ...gone]);
        },
      });
    });
  });
}
