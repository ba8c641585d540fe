// One HTTP(S) request with the knobs a registry client needs (TLS trust per
// host, an inactivity timeout, cancellation), on node:http/https so that no
// HTTP client dependency is needed.

import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { lookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
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
  /**
   * Refuse to connect to this host's own addresses (loopback, link-local
   * with the cloud metadata service, unspecified), whether the URL names
   * them or its name resolves to them: for URLs a remote registry chose
   * (redirects, token realms), which must not reach services on the node.
   */
  refuseLocal?: boolean;
}

export class LocalAddressRefusedError extends Error {
  override name = 'LocalAddressRefusedError';
}

/** Loopback, link-local (169.254.0.0/16 holds the metadata service), unspecified; IPv4-mapped IPv6 included. */
export function isNodeLocalAddress(address: string): boolean {
  let a = address.toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  // IPv4-mapped IPv6, dotted or (as WHATWG URL normalises it) in hex: ::ffff:7f00:1 is 127.0.0.1.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mapped) a = mapped[1];
  else if (mappedHex) {
    const hi = parseInt(mappedHex[1], 16);
    const lo = parseInt(mappedHex[2], 16);
    a = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  if (isIP(a) === 4) {
    const [x, y] = a.split('.').map(Number);
    return x === 127 || x === 0 || (x === 169 && y === 254);
  }
  if (isIP(a) === 6) return a === '::1' || a === '::' || /^fe[89ab]/.test(a);
  return false;
}

/** dns.lookup that fails for node-local addresses (a name may resolve to 127.0.0.1 or the metadata address). */
const lookupRefusingLocal: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses;
    const local = list.find((x) => isNodeLocalAddress(x.address));
    if (local) return callback(new LocalAddressRefusedError(`${hostname} resolves to ${local.address}, an address of this node; refused for a URL the registry chose`), '', 0);
    if (options.all) return callback(null, list);
    return callback(null, list[0].address, list[0].family);
  });
};

export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  override name = 'HttpTimeoutError';
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };

/** Resolves with the response head; the caller must consume or destroy `res`. */
export function httpRequest(req: HttpRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (req.refuseLocal && isNodeLocalAddress(req.url.hostname)) {
      reject(new LocalAddressRefusedError(`${req.url.host} is an address of this node; refused for a URL the registry chose`));
      return;
    }
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
    if (req.refuseLocal) {
      // A dedicated agent: a pooled socket may have been connected without the check.
      options.agent = isHttps ? new https.Agent({ keepAlive: false, rejectUnauthorized: !req.insecureTls, ca: req.ca }) : new http.Agent({ keepAlive: false });
      options.lookup = lookupRefusingLocal;
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
