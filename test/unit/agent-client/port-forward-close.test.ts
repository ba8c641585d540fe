// Port-forward through the agent when the pod's server closes first: the
// client must see the end of the stream without closing its own side first
// (an HTTP/1.0 server, or any that sends and hangs up, ends the body so).
// containerd ends the client stream once the pod connection is done too.

import t from 'tap';
import { createServer } from 'node:net';
import { startClient } from '../agent/harness';

t.test('the guest server closing its connection ends the stream, while the host side is still open', async (t) => {
  const { client } = startClient(t);
  const server = createServer((s) => s.end('hello and goodbye'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const pf = await client.portForward((server.address() as { port: number }).port);
  let got = '';
  // No closeSend(): the host side stays open, as a client waiting for the end of the body.
  for await (const b of pf) got += b.toString();
  t.equal(got, 'hello and goodbye', 'everything the server sent, then the end');
  await pf.done();
  pf.cancel();
});
