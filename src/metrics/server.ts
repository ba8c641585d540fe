// The HTTP endpoint Prometheus scrapes: GET /metrics, nothing else. It
// listens only when [metrics] enabled = true, and closes every connection
// when the daemon stops.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../../common/errors';
import type { Logger } from '../log';

export interface Scrapeable {
  scrape(): Promise<{ body: string; contentType: string }>;
}

/** "127.0.0.1:9464" or "[::1]:9464" → host and port. Pure. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('metrics.address', `[metrics] address "${address}" is not host:port (e.g. "127.0.0.1:9464")`);
  return { host: m[1] ?? m[2], port };
}

export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: Scrapeable,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: vmpod serves /metrics only\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      this.metrics.scrape().then(
        ({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => {
          this.log.warn({ err: (err as Error).message }, 'metrics scrape failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed; see the vmpod log\n');
        },
      );
    });
  }

  /** Listens on `address` (host:port); resolves with the address actually bound. */
  async listen(address: string): Promise<AddressInfo> {
    const { host, port } = parseAddress(address);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    this.log.info({ address: bound.address, port: bound.port }, 'metrics serving on /metrics');
    return bound;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Keep-alive scrapers would otherwise hold the daemon's stop.
    this.server.closeAllConnections();
    await closed;
  }
}
