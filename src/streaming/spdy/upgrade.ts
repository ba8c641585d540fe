// The HTTP/1.1 upgrade to SPDY/3.1, server side, as Kubernetes does it:
// first the stream-protocol handshake (apimachinery httpstream.Handshake),
// then the upgrade itself (apimachinery httpstream/spdy responseUpgrader).
//
// Handshake: the client sends one X-Stream-Protocol-Version header per
// protocol it offers (values may also be comma-separated). The chosen one is
// the client's first offer that the server supports (negotiateProtocol walks
// the client's list). No header at all: 400. No common protocol: 403, with
// one X-Accepted-Stream-Protocol-Versions header per protocol we support.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log';
import { silentLogger } from '../../log';
import { SpdySession } from './session';

export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';
export const SPDY_31 = 'SPDY/3.1';

export type Handshake = { ok: true; protocol: string } | { ok: false; status: 400 | 403; message: string };

/** The protocol negotiation alone (pure): `offered` are the raw header values the client sent. */
export function negotiateProtocol(offered: readonly string[] | undefined, supported: readonly string[]): Handshake {
  const name = HEADER_PROTOCOL_VERSION;
  if (!offered || offered.length === 0) return { ok: false, status: 400, message: `unable to upgrade: header ${name} does not exist in request` };
  const client = offered
    .flatMap((v) => v.split(','))
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (client.length === 0) return { ok: false, status: 400, message: `unable to upgrade: header ${name} contains ${offered.join(', ')}, but no valid protocols` };
  const protocol = client.find((p) => supported.includes(p));
  if (protocol === undefined) {
    return { ok: false, status: 403, message: `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${supported.join(' ')}]` };
  }
  return { ok: true, protocol };
}

function writeHttpError(socket: Duplex, status: 400 | 403, message: string, extraHeaders: [string, string][] = []): void {
  const body = `${message}\n`;
  const reason = status === 400 ? 'Bad Request' : 'Forbidden';
  const headers: [string, string][] = [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['X-Content-Type-Options', 'nosniff'],
    ...extraHeaders,
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Connection', 'close'],
  ];
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`);
}

/**
 * Answers an HTTP/1.1 upgrade to SPDY/3.1 (101 Switching Protocols,
 * X-Stream-Protocol-Version = the chosen one of `protocols`), or writes the
 * HTTP error itself and returns null.
 */
export function acceptSpdyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, protocols: readonly string[], log: Logger = silentLogger): { session: SpdySession; protocol: string } | null {
  const hs = negotiateProtocol(req.headersDistinct[HEADER_PROTOCOL_VERSION.toLowerCase()], protocols);
  if (!hs.ok) {
    log.info({ status: hs.status, url: req.url }, hs.message);
    writeHttpError(socket, hs.status, hs.message, hs.status === 403 ? protocols.map((p) => [HEADER_ACCEPTED_PROTOCOL_VERSIONS, p]) : []);
    return null;
  }
  const connection = (req.headers.connection ?? '').toLowerCase();
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes(SPDY_31.toLowerCase())) {
    const message = `unable to upgrade: missing upgrade headers in request (Connection: ${req.headers.connection ?? ''}, Upgrade: ${req.headers.upgrade ?? ''})`;
    log.info({ url: req.url }, message);
    writeHttpError(socket, 400, message);
    return null;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SPDY_31}\r\n${HEADER_PROTOCOL_VERSION}: ${hs.protocol}\r\n\r\n`);
  // Bytes the client sent after its request belong to the SPDY stream.
  if (head.length > 0) socket.unshift(head);
  const session = new SpdySession(socket, { isServer: true, log });
  return { session, protocol: hs.protocol };
}
