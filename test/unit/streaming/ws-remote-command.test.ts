// Exec and attach over WebSocket against a fake ProcessIO: what reaches the
// process, what reaches the client, the status at the end, and that a
// client going away closes the process and leaves nothing behind.

import t from 'tap';
import { InternalError } from '../../../common/errors';
import type { StreamOptions } from '../../../src/sandbox/controller';
import { ChannelClient } from './ws-client';
import { sessionsGone, startServer } from './harness';

const ALL: StreamOptions = { stdin: true, stdout: true, stderr: true, tty: false };
const TTY: StreamOptions = { stdin: true, stdout: true, stderr: false, tty: true };

t.test('v5: stdin, stdout, stderr, the close signal as stdin EOF, exit 0 as a Success status', async (t) => {
  const { server, pods } = await startServer(t);
  const url = server.issue({ kind: 'exec', containerId: 'c1', cmd: ['cat'], opts: ALL });
  const c = new ChannelClient(url, ['v5.channel.k8s.io']);
  await c.opened;
  t.equal(c.protocol, 'v5.channel.k8s.io', 'the server chose v5');
  const p = await pods.process();
  t.same(pods.execCalls, [{ containerId: 'c1', cmd: ['cat'] }], 'the command and container come from the token');
  c.send(0, 'hello ');
  c.send(0, 'world');
  c.closeChannel(0);
  await p.waitStdinEnd();
  t.equal(p.input, 'hello world', 'stdin reached the process');
  p.stdout?.write('out!');
  p.stderr?.write('err!');
  await c.waitFor(1, /out!/);
  await c.waitFor(2, /err!/);
  p.exit(0);
  const { code } = await c.closed;
  t.equal(code, 1000, 'normal closure after the status');
  t.same(JSON.parse(c.text(3)), { metadata: {}, status: 'Success' });
  t.equal(c.frames(1)[0].length, 0, 'an empty frame on stdout said the streams were ready');
  await sessionsGone(server);
  t.equal(p.closed, 1, 'the ProcessIO was released once');
});

t.test('v4: a non-zero exit is the NonZeroExitCode status with the ExitCode cause', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh', '-c', 'exit 3'], opts: { ...ALL, stdin: false } }), ['v4.channel.k8s.io']);
  await c.opened;
  (await pods.process()).exit(3);
  await c.closed;
  const s = JSON.parse(c.text(3)) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
  t.equal(s.status, 'Failure');
  t.equal(s.reason, 'NonZeroExitCode');
  t.same(s.details.causes, [{ reason: 'ExitCode', message: '3' }], 'kubectl reads 3 from here');
});

t.test('v4.base64: frames are text, the channel a digit, data base64', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['x'], opts: ALL }), ['v4.base64.channel.k8s.io']);
  await c.opened;
  t.equal(c.protocol, 'v4.base64.channel.k8s.io');
  const p = await pods.process();
  c.send(0, Buffer.from([0, 1, 2, 255]));
  p.stdout?.write(Buffer.from([254, 0, 10]));
  await c.waitFor(1, /\n/);
  t.same([...Buffer.concat(c.frames(1))], [254, 0, 10], 'binary output survives base64');
  await p.waitInput(4);
  t.same([...p.inputBytes], [0, 1, 2, 255], 'binary stdin survives base64');
  p.exit(0);
  await c.closed;
});

t.test('the client picks: its first offer the server knows wins; an offer of none known is refused', async (t) => {
  const { server } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['x'], opts: ALL }), ['v9.channel.k8s.io', 'channel.k8s.io', 'v5.channel.k8s.io']);
  await c.opened;
  t.equal(c.protocol, 'channel.k8s.io');
  c.ws.terminate();
  const bad = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['x'], opts: ALL }), ['v9.channel.k8s.io']);
  await t.rejects(bad.opened, /HTTP 400/);
});

t.test('channel.k8s.io (pre-v4): a failure is its message as text; success sends nothing', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['false'], opts: ALL }), ['channel.k8s.io']);
  await c.opened;
  (await pods.process()).exit(1);
  await c.closed;
  t.match(c.text(3), /^command terminated with non-zero exit code/);
  const ok = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['true'], opts: ALL }), ['channel.k8s.io']);
  await ok.opened;
  (await pods.process(1)).exit(0);
  await ok.closed;
  t.equal(ok.text(3), '');
});

t.test('tty: resize messages reach the process, split across frames too', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh'], opts: TTY }), ['v5.channel.k8s.io']);
  await c.opened;
  const p = await pods.process();
  c.send(4, '{"Width":100,"Height":30}{"Wid');
  c.send(4, 'th":80,"Height":24}');
  await p.waitResizes(2);
  t.same(p.resizes, [
    { width: 100, height: 30 },
    { width: 80, height: 24 },
  ]);
  t.notOk(p.stderr, 'no stderr with a terminal');
  p.exit(0);
  await c.closed;
});

t.test('the client disconnects mid-exec: close() is called and no session is left', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sleep', '1000'], opts: ALL }), ['v5.channel.k8s.io']);
  await c.opened;
  const p = await pods.process();
  p.stdout?.write('working');
  await c.waitFor(1, /working/);
  c.ws.terminate();
  await sessionsGone(server);
  t.equal(p.closed, 1, 'the process was closed (the controller kills it)');
  t.ok(p.stdout?.destroyed, 'its output stream is gone');
});

t.test('a process that cannot start is an InternalError status', async (t) => {
  const { server, pods } = await startServer(t);
  pods.failExec = new InternalError('runc exec failed: no such file');
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['nope'], opts: ALL }), ['v5.channel.k8s.io']);
  await c.opened;
  await c.closed;
  const s = JSON.parse(c.text(3)) as { status: string; reason: string; message: string };
  t.equal(s.reason, 'InternalError');
  t.match(s.message, /error executing command in container: runc exec failed/);
  await sessionsGone(server);
});

t.test('attach: the container exiting ends the session with Success whatever its code', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'attach', containerId: 'c1', opts: ALL }), ['v5.channel.k8s.io']);
  await c.opened;
  const p = await pods.process();
  p.stdout?.write('log line');
  await c.waitFor(1, /log line/);
  p.exit(2);
  await c.closed;
  t.same(JSON.parse(c.text(3)), { metadata: {}, status: 'Success' });
});

t.test('closing the server ends every session and forgets every token', async (t) => {
  const { server, pods } = await startServer(t);
  const c = new ChannelClient(server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh'], opts: ALL }), ['v5.channel.k8s.io']);
  await c.opened;
  const p = await pods.process();
  server.issue({ kind: 'exec', containerId: 'c1', cmd: ['sh'], opts: ALL });
  t.equal(server.outstandingUrls, 1);
  await server.close();
  await c.closed;
  t.equal(p.closed, 1, 'the process was closed');
  t.equal(server.activeSessions, 0);
  t.equal(server.outstandingUrls, 0);
});
