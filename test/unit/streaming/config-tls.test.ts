// The [streaming] table (defaults, what is refused) and the server it
// configures: https with the configured certificate, the URL saying so.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { parseConfig } from '../../../src/config/load';
import { handlerTypes } from '../../../src/sandbox';
import { startServer } from './harness';
import { opensslAvailable, selfSignedCert } from '../../helpers/tls';

const types = handlerTypes().configs();
const parse = (toml: string) => parseConfig(toml, types);

t.test('[streaming] defaults: loopback, an ephemeral port, a 1-minute token', async (t) => {
  t.match(parse('').streaming, { address: '127.0.0.1', port: 0, token_ttl_s: 60, stream_idle_timeout_s: 14400 });
  t.equal(parse('[streaming]\nport = 10010\n').streaming.port, 10010);
});

t.test('[streaming] refuses what would be a mistake', async (t) => {
  const cases = [
    { desc: 'a certificate without its key', toml: '[streaming]\ntls_cert_file = "/etc/vmpod/cert.pem"\n' },
    { desc: 'a port out of range', toml: '[streaming]\nport = 70000\n' },
    { desc: 'a zero TTL', toml: '[streaming]\ntoken_ttl_s = 0\n' },
    { desc: 'an unknown key', toml: '[streaming]\nttl = 5\n' },
  ];
  for (const c of cases) t.throws(() => parse(c.toml), /streaming/, c.desc);
});

t.test('TLS: https URLs, served with the configured certificate', { skip: opensslAvailable ? false : 'openssl is not installed: no certificate to test with' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-streaming-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSignedCert(dir);
  const { server, pods } = await startServer(t, { tls_cert_file: cert, tls_key_file: key });
  const url = server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: { stdin: false, stdout: true, stderr: false, tty: false } });
  t.match(url, /^https:\/\/127\.0\.0\.1:\d+\/exec\//);
  const ws = new WebSocket(url.replace(/^https/, 'wss'), ['v5.channel.k8s.io'], { ca: readFileSync(cert) });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  (await pods.process()).exit(0);
  await new Promise((resolve) => ws.once('close', resolve));
  t.pass('a client trusting the certificate ran an exec over wss');
});
