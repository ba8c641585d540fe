// Terminals through the real agent handlers (harness: the processes run
// directly on the agent's pty instead of under crun): output on stdout only,
// stdin typed into the terminal, ResizeTty, the ^D of CloseStdin, and the
// errors. The guest end-to-end test covers the same through crun.

import t from 'tap';
import { mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteStatusError } from '../../../common/ttrpc';
import { GrpcStatus } from '../../../common/errors';
import { ociSpec, readAll, startClient } from './harness';

function ptyFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return /^\/dev\/(ptmx|pts\/)/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;
}

async function code(p: Promise<unknown>): Promise<number | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e as RemoteStatusError).grpcStatus,
  );
}

t.test('a container and an exec on terminals', async (t) => {
  const { h, client } = startClient(t);
  mkdirSync(join(h.dirs.share, 'c1', 'rootfs'), { recursive: true });
  const fdsBefore = ptyFds();
  const script = 'stty size; read line; echo "line=$line"; stty size; echo to-stderr >&2; exit 4';
  await client.call('CreateContainer', {
    container_id: 'c1',
    oci_spec_json: ociSpec(['/bin/sh', '-c', script], { terminal: true, consoleSize: { height: 24, width: 80 } }),
    rootfs_path: 'c1/rootfs',
    stdin: true,
  });
  await client.call('StartContainer', { container_id: 'c1' });
  t.equal(ptyFds(), fdsBefore + 1, 'the agent holds the master only (its slave copy is released)');
  // Wait for the first size line, so the resize lands between the two.
  const first = await client.readStdout({ container_id: 'c1', wait_ms: 5000 });
  t.equal(Buffer.from(first.data).toString(), '24 80\n', 'initial size from process.consoleSize');
  await client.call('ResizeTty', { container_id: 'c1', rows: 40, cols: 120 });
  await client.call('WriteStdin', { container_id: 'c1', data: Buffer.from('hello\n') });
  const w = await client.waitProcess({ container_id: 'c1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 4], 'exit code of the terminal process');
  t.equal(await readAll(client, 'c1', '', 'readStdout'), 'line=hello\n40 120\nto-stderr\n', 'stdin typed in, resize seen, stderr on the terminal');
  t.equal(await readAll(client, 'c1', '', 'readStderr'), '', 'stderr stream is empty and at eof');
  t.equal(await code(client.call('ResizeTty', { container_id: 'c1', rows: 10, cols: 10 })), undefined, 'ResizeTty after exit is a no-op, not an error');
  t.equal(await code(client.call('WriteStdin', { container_id: 'c1', data: Buffer.from('x') })), GrpcStatus.FAILED_PRECONDITION, 'WriteStdin after the terminal ended: FAILED_PRECONDITION');
  await client.call('RemoveContainer', { container_id: 'c1' });
  t.equal(ptyFds(), fdsBefore, 'no pty fd left after RemoveContainer');

  await client.call('CreateContainer', { container_id: 'c2', oci_spec_json: ociSpec(['sleep', '30']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c2' });
  const exec = (id: string, proc: Record<string, unknown>, args: string[], stdin = false) =>
    client.call('ExecProcess', { container_id: 'c2', exec_id: id, process_json: Buffer.from(JSON.stringify({ args, env: ['PATH=/usr/bin:/bin'], cwd: '/', ...proc })), stdin });
  await exec('e1', { terminal: true, consoleSize: { height: 30, width: 100 } }, ['sh', '-c', 'test -t 0 && test -t 1 && test -t 2 && echo all-terminals; stty size']);
  t.equal(await readAll(client, 'c2', 'e1', 'readStdout'), 'all-terminals\n30 100\n', 'exec on a terminal of the requested size');
  // CloseStdin on a terminal types ^D: here the reader gets the raw byte (under crun the container's pty turns it into EOF).
  await exec('e2', { terminal: true }, ['sh', '-c', 'head -c1 | od -An -tx1'], true);
  await client.call('CloseStdin', { container_id: 'c2', exec_id: 'e2' });
  t.match(await readAll(client, 'c2', 'e2', 'readStdout'), /^\s*04\s*$/, 'CloseStdin sent EOT (0x04)');
  t.equal(await code(client.call('WriteStdin', { container_id: 'c2', exec_id: 'e2', data: Buffer.from('x') })), GrpcStatus.FAILED_PRECONDITION, 'WriteStdin after CloseStdin: FAILED_PRECONDITION');

  t.equal(await code(client.call('ResizeTty', { container_id: 'c2', rows: 10, cols: 10 })), GrpcStatus.FAILED_PRECONDITION, 'ResizeTty on a process without a terminal: FAILED_PRECONDITION');
  await exec('e3', { terminal: true }, ['sleep', '30']);
  t.equal(await code(client.call('ResizeTty', { container_id: 'c2', exec_id: 'e3', rows: 70000, cols: 10 })), GrpcStatus.INVALID_ARGUMENT, 'rows beyond 65535: INVALID_ARGUMENT');
  t.equal(await code(client.call('ResizeTty', { container_id: 'c2', exec_id: 'nope', rows: 10, cols: 10 })), GrpcStatus.NOT_FOUND, 'ResizeTty of an unknown exec: NOT_FOUND');
  t.equal(await code(exec('e4', { terminal: true, consoleSize: { height: -1, width: 5 } }, ['true'])), GrpcStatus.INVALID_ARGUMENT, 'a bad consoleSize: INVALID_ARGUMENT');
  const badSpec = ociSpec(['true'], { terminal: true, consoleSize: { height: 'x', width: 5 } });
  t.equal(
    await code(client.call('CreateContainer', { container_id: 'c3', oci_spec_json: badSpec, rootfs_path: 'c1/rootfs' })),
    GrpcStatus.INVALID_ARGUMENT,
    'a bad consoleSize in a container spec: INVALID_ARGUMENT',
  );
  await client.call('RemoveContainer', { container_id: 'c2', force: true });
  t.equal(ptyFds(), fdsBefore, 'no pty fd left after a forced remove with a terminal exec still running');
});
