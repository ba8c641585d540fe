// The client side of the upgrade, for tests and the bench: what client-go's
// SPDY round tripper sends (Connection: Upgrade, Upgrade: SPDY/3.1, one
// X-Stream-Protocol-Version per offered protocol), then a client session on
// the upgraded socket.

import * as http from 'node:http';
import * as https from 'node:https';
import { SpdySession } from './session';
import { HEADER_PROTOCOL_VERSION, SPDY_31 } from './upgrade';

export function dialSpdy(url: string, protocols: readonly string[], opts: { ca?: Buffer } = {}): Promise<{ session: SpdySession; protocol: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers = { Connection: 'Upgrade', Upgrade: SPDY_31, [HEADER_PROTOCOL_VERSION]: [...protocols] };
    const req = target.protocol === 'https:' ? https.request(target, { method: 'POST', headers, ca: opts.ca, agent: false }) : http.request(target, { method: 'POST', headers, agent: false });
    req.on('upgrade', (res, socket, head) => {
      const upgrade = (res.headers.upgrade ?? '').toLowerCase();
      if (upgrade !== SPDY_31.toLowerCase()) {
        socket.destroy();
        reject(new Error(`${url}: the server upgraded to "${res.headers.upgrade ?? ''}", not ${SPDY_31}`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      const protocol = res.headers[HEADER_PROTOCOL_VERSION.toLowerCase()];
      resolve({ session: new SpdySession(socket, { isServer: false }), protocol: typeof protocol === 'string' ? protocol : '' });
    });
    req.on('response', (res) => {
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => body.push(c));
      res.on('end', () => reject(new Error(`${url}: upgrade to ${SPDY_31} refused: HTTP ${res.statusCode ?? '?'} ${Buffer.concat(body).toString().trim()}`)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
