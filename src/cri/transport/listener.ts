// The CRI socket. The daemon accepts connections itself and hands each one,
// through the RequestRewriter (see request-rewriter.ts and authority.ts for
// why), to grpc-js's HTTP/2 server with a connection injector, instead of
// letting grpc-js listen: that is what lets every :authority a kubelet or
// crictl has ever sent reach grpc-js, while nghttp2 keeps validating
// everything else.

import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { createServer, type Socket } from 'node:net';
import { FailedPreconditionError } from '../../../common/errors';
import type { Logger } from '../../log';
import { RewritingConnection } from './connection';
import type { RewriteLimits } from './request-rewriter';

export interface CriListener {
  /** Connections open now: accepted, and not yet closed both on the client's side and on grpc-js's. */
  readonly connections: number;
  /**
   * Stop accepting, destroy every connection still open (grpc-js's
   * forceShutdown has normally closed their sessions already), and remove
   * the socket file. Resolves when the listening socket and every connection are closed.
   */
  close(): Promise<void>;
}

export function listenCri(server: Server, path: string, log: Logger, limits?: RewriteLimits): Promise<CriListener> {
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  /** Each accepted connection until both its socket and the stream grpc-js holds are closed. */
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
    injector.injectConnection(conn);
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
          injector.destroy();
          const gone = [...open].map(([conn, done]) => (conn.destroy(), done));
          await Promise.all([closed, ...gone]);
        },
      });
    });
  });
}
