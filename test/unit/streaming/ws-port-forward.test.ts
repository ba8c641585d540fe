// Port-forward over WebSocket against fake pod connections: the port
// prefix on both channels, bytes both ways for two ports on one
// connection, a refused port on its error channel, the allowed ports.

import t from 'tap';
import { ChannelClient } from './ws-client';
import { sessionsGone, startServer } from './harness';

const PF = ['v4.channel.k8s.io'];

t.test('two ports on one connection, each with its port prefix, bytes both ways', async (t) => {
  const { server, pods } = await startServer(t);
  const url = server.issue({ kind: 'portforward', podId: 'p1', ports: [] });
  const c = new ChannelClient(`${url}?port=8080&port=9090`, PF);
  await c.opened;
  const a = await pods.dial(0);
  const b = await pods.dial(1);
  t.same(
    [a.port, b.port].sort((x, y) => x - y),
    [8080, 9090],
  );
  await c.waitFor(0, /./s);
  t.same([...c.frames(0)[0]], [0x90, 0x1f], 'data channel 0 starts with 8080 little-endian');
  t.same([...c.frames(1)[0]], [0x90, 0x1f], 'error channel 1 too');
  t.same([...c.frames(2)[0]], [0x82, 0x23], 'channel 2 with 9090');
  const on8080 = a.port === 8080 ? a : b;
  c.send(0, 'GET / HTTP/1.0\r\n\r\n');
  const got = await new Promise<string>((resolve) => on8080.peer.once('data', (d: Buffer) => resolve(d.toString())));
  t.equal(got, 'GET / HTTP/1.0\r\n\r\n', 'the client bytes reached port 8080');
  on8080.peer.write('HTTP/1.0 200 OK\r\n');
  await c.waitFor(0, /200 OK/);
  a.peer.end();
  b.peer.end();
  const { code } = await c.closed;
  t.equal(code, 1000, 'closed once both forwards ended');
  await sessionsGone(server);
});

t.test('a port that cannot be dialled, and one the request did not name, are errors on their error channel', async (t) => {
  const { server } = await startServer(t);
  const c = new ChannelClient(`${server.issue({ kind: 'portforward', podId: 'p1', ports: [1, 80] })}?port=1&port=22`, PF);
  await c.opened;
  await c.closed;
  t.match(c.text(1), /error forwarding port 1 to pod p1: connection refused/);
  t.match(c.text(3), /port 22 was not in the PortForward request/);
});

t.test('a missing or bad port query is HTTP 400', async (t) => {
  const { server } = await startServer(t);
  await t.rejects(new ChannelClient(server.issue({ kind: 'portforward', podId: 'p1', ports: [] }), PF).opened, /HTTP 400/);
  await t.rejects(new ChannelClient(`${server.issue({ kind: 'portforward', podId: 'p1', ports: [] })}?port=70000`, PF).opened, /HTTP 400/);
});

t.test('the client disconnecting closes every pod connection', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(`${server.issue({ kind: 'portforward', podId: 'p1', ports: [] })}?port=80`, PF);
  await c.opened;
  const a = await pods.dial(0);
  c.ws.terminate();
  await sessionsGone(server);
  t.ok(a.conn.destroyed, 'the connection into the pod was closed');
});
