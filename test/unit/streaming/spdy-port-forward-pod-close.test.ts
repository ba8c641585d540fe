// Regression: a pod server that closes its connection first (an HTTP reply
// without Content-Length, as busybox httpd's 404 in the README's crictl
// walk-through) while the client keeps its side open. crictl 1.26's
// client-go closes its local connection only once the server closes the
// pair's error stream; the server waited for the client's data stream to end
// first, so `curl` through `crictl port-forward` never finished.

import t from 'tap';
import { dialSpdy } from '../../../src/streaming/spdy';
import { collect, sessionsGone, startServer } from './harness';

t.test('the pod closing its side ends the data and the error stream while the client keeps its side open', async (t) => {
  const { server, pods } = await startServer(t);
  const { session } = await dialSpdy(server.issue({ kind: 'portforward', podId: 'p1', ports: [] }), ['portforward.k8s.io']);
  const error = await session.openStream({ streamtype: 'error', port: '8080', requestid: '0' });
  const data = await session.openStream({ streamtype: 'data', port: '8080', requestid: '0' });
  for (const s of [error, data]) s.on('error', () => undefined);
  // As client-go does: it never writes to the error stream, and ends its side of it at once.
  error.end();
  const errorText = collect(error);
  const reply = collect(data);
  data.write('GET / HTTP/1.1\r\n\r\n');
  const pod = await pods.dial(0);
  t.equal(await new Promise<string>((resolve) => pod.peer.once('data', (b: Buffer) => resolve(b.toString()))), 'GET / HTTP/1.1\r\n\r\n', 'the request reached the pod');
  pod.peer.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nnot here\n');
  t.equal(await reply, 'HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nnot here\n', 'the whole reply, then the end of the data stream');
  t.equal(await errorText, '', 'the error stream ends, empty, with the data stream still open on the client side');
  t.ok(pod.conn.destroyed, "the server's pod connection is released");
  session.destroy();
  await sessionsGone(server);
});
