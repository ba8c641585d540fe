// What the server answers before a session: unknown, used and expired
// tokens, a token of another kind, plain HTTP, the session bound.

import { request } from 'node:http';
import t from 'tap';
import type { StreamOptions } from '../../../src/sandbox/controller';
import { ChannelClient } from './ws-client';
import { startServer } from './harness';

const OPTS: StreamOptions = { stdin: false, stdout: true, stderr: false, tty: false };

t.test('the URL names the bound loopback address and an ephemeral port', async (t) => {
  const { server } = await startServer(t);
  t.match(server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS }), /^http:\/\/127\.0\.0\.1:[1-9]\d*\/exec\/[A-Za-z0-9_-]+$/);
});

t.test('a token works once, and not after its TTL', async (t) => {
  const { server, pods, clock } = await startServer(t);
  const url = server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS });
  const first = new ChannelClient(url, ['v5.channel.k8s.io']);
  await first.opened;
  (await pods.process()).exit(0);
  await first.closed;
  await t.rejects(new ChannelClient(url, ['v5.channel.k8s.io']).opened, /HTTP 404/, 'used');
  const late = server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS });
  clock.now += 60_000;
  await t.rejects(new ChannelClient(late, ['v5.channel.k8s.io']).opened, /HTTP 404/, 'expired');
});

t.test('a token only opens its own kind', async (t) => {
  const { server } = await startServer(t);
  const url = server.issue({ kind: 'attach', containerId: 'c', opts: OPTS });
  await t.rejects(new ChannelClient(url.replace('/attach/', '/exec/'), ['v5.channel.k8s.io']).opened, /HTTP 400/);
});

t.test('a plain HTTP request is refused', async (t) => {
  const { server } = await startServer(t);
  const status = await new Promise<number>((resolve, reject) => {
    request(server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS }), (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
  t.equal(status, 400);
});

t.test('beyond max_sessions: 503 until one ends', async (t) => {
  const { server, pods } = await startServer(t, { max_sessions: 1 });
  const one = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS }), ['v5.channel.k8s.io']);
  await one.opened;
  const url = server.issue({ kind: 'exec', containerId: 'c', cmd: ['x'], opts: OPTS });
  await t.rejects(new ChannelClient(url, ['v5.channel.k8s.io']).opened, /HTTP 503/);
  (await pods.process()).exit(0);
  await one.closed;
  const again = new ChannelClient(url, ['v5.channel.k8s.io']);
  await again.opened;
  t.pass('the token refused at the bound was not used up');
  again.ws.terminate();
});
