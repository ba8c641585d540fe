// The CRI socket. The daemon accepts connections itself and hands each one,
// through the RequestRewriter (see request-rewriter.ts and authority.ts for
// why), to the gRPC server's HTTP/2 layer: that is what lets every
// :authority a kubelet or crictl has ever sent reach the server, while
// nghttp2 keeps validating everything else.
//
// Every connection goes through the rewriter, also one whose requests need
// no change: deciding from the first request would not work, because Go's
// gRPC client waits for the server's SETTINGS before it sends any request,
// and only the session that will serve the connection may send those.

import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FailedPreconditionError } from '../../../common/errors';
import type { Logger } from '../../log';
import { RewritingConnection } from './connection';
import type { RewriteLimits } from './request-rewriter';

/** What serves HTTP/2 on a connection the listener accepted (src/cri/grpc/server.ts). */
export interface ConnectionServer {
  serve(conn: Duplex): void;
}

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

export function listenCri(server: ConnectionServer, path: string, log: Logger, limits?: RewriteLimits): Promise<CriListener> {
  /** Each accepted connection until both its socket and the stream the server holds are closed. */
  const open = new Map<RewritingConnection, Promise<void>>();
  let accepted = 0;
  const net = createServer((socket) => {
    const id = ++accepted;
    let told = false;
    const conn = new RewritingConnection(
      socket,
      {
        onRewrite: (r) => {
          if (told) return;
          told = true;
          log.debug({ connection: id, field: r.name, sent: r.from, passedOn: r.to }, 'client sent an authority nghttp2 refuses; passing it on percent-encoded');
        },
        onViolation: (err) => log.warn({ connection: id, err: err.message }, 'closing a CRI connection that broke HTTP/2'),
      },
      limits,
    );
    const closed = (x: Socket | RewritingConnection) => new Promise<void>((done) => x.once('close', () => done()));
    open.set(
      conn,
      Promise.all([closed(socket), closed(conn)]).then(() => void open.delete(conn)),
    );
    server.serve(conn);
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
          const closed = new Promise<void>((done) => net.close(() => done()));
          const gone = [...open].map(([conn, done]) => (conn.destroy(), done));
          await Promise.all([closed, ...gone]);
        },
      });
    });
  });
}
