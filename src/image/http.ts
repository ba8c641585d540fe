// One HTTP(S) request with the knobs a registry client needs (TLS trust per
// host, an inactivity timeout, cancellation), on node:http/https so that no
// HTTP client dependency is needed.

import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { ResourceExhaustedError } from '../../common/errors';

export interface HttpRequest {
  method?: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Skip certificate verification (hosts marked insecure only). */
  insecureTls?: boolean;
  /** Extra CA certificates (PEM) for this host. */
  ca?: string | Buffer;
  /** Inactivity timeout: the request fails if no byte moves for this long. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  override name = 'HttpTimeoutError';
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

/** Resolves with the response head; the caller must consume or destroy `res`. */
export function httpRequest(req: HttpRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const options: https.RequestOptions = {
      method: req.method ?? 'GET',
      headers: { 'user-agent': 'vmpod', ...req.headers },
      signal: req.signal,
    };
    if (isHttps) {
      if (req.insecureTls || req.ca) {
        // A dedicated agent so that relaxed trust never leaks into pooled sockets of other hosts.
        options.agent = new https.Agent({ keepAlive: false, rejectUnauthorized: !req.insecureTls, ca: req.ca });
      } else {
        options.agent = agents.https;
      }
    } else {
      options.agent = agents.http;
    }
    const mod = isHttps ? https : http;
    const r = mod.request(req.url, options, (res) => {
      res.setTimeout(req.timeoutMs, () => res.destroy(new HttpTimeoutError(`no data from ${req.url.host} for ${req.timeoutMs} ms`)));
      resolve(res);
    });
    r.setTimeout(req.timeoutMs, () => r.destroy(new HttpTimeoutError(`no answer from ${req.url.host} within ${req.timeoutMs} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Read a whole (small) body, failing once it exceeds `limit` bytes. */
export async function readBody(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    throw new BodyTooLargeError(`${what}: ${declared} bytes is more than the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      res.destroy();
      throw new BodyTooLargeError(`${what}: more than the ${limit}-byte limit`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export class BodyTooLargeError extends ResourceExhaustedError {}

/** Errors worth retrying: the network hiccuped, not the request was wrong. */
export function isTransientNetworkError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET'].includes(code ?? '') || err instanceof HttpTimeoutError;
}
