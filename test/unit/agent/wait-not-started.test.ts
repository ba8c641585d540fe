// WaitProcess says whether a container's init was started: a host that
// restarted asks it to tell a created container from a running one (it read
// every container the agent knew as running, and a created one then refused
// ExecSync as "not running").

import t from 'tap';
import { ociSpec, startClient } from './harness';

const proc = (args: string[]) => Buffer.from(JSON.stringify({ args, env: ['PATH=/usr/bin:/bin'], cwd: '/' }));

t.test('a created container is not_started until StartContainer, then never again', async (t) => {
  const { client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['/bin/sh', '-c', 'read x']), rootfs_path: 'c1/rootfs', stdin: true });
  const created = await client.waitProcess({ container_id: 'c1', exec_id: '', wait_ms: 0 });
  t.same([created.exited, created.not_started], [false, true], 'created: not exited, not started');
  await client.call('StartContainer', { container_id: 'c1' });
  const running = await client.waitProcess({ container_id: 'c1', exec_id: '', wait_ms: 0 });
  t.same([running.exited, running.not_started], [false, false], 'started: not exited, started');
  // Runs until its stdin closes (with the exec's record, at the container's removal).
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e1', process_json: proc(['/bin/sh', '-c', 'read x']), stdin: true });
  const exec = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 0 });
  t.same([exec.exited, exec.not_started], [false, false], 'an exec is started once it exists');
  await client.call('SignalProcess', { container_id: 'c1', exec_id: '', signal: 9 });
  const exited = await client.waitProcess({ container_id: 'c1', exec_id: '', wait_ms: 5000 });
  t.same([exited.exited, exited.not_started], [true, false], 'exited: started');
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});

t.test('a long poll on a created container answers not_started when its wait_ms elapses', async (t) => {
  const { client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c2', oci_spec_json: ociSpec(['true']), rootfs_path: 'c2/rootfs' });
  const r = await client.waitProcess({ container_id: 'c2', exec_id: '', wait_ms: 100 });
  t.same([r.exited, r.not_started], [false, true]);
  await client.call('RemoveContainer', { container_id: 'c2', force: true });
});
