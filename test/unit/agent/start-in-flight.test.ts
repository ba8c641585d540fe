// A container whose StartContainer is still in flight (crun run has not made
// it yet) is already "started" to the agent: a host that restarted mid-start
// reads it as running and execs in it at once. The agent holds such an exec,
// signal or update until the runtime has made the container; it used to pass
// it to the runtime (then runc) straight away, and runc answered "container
// does not exist" (the SIGKILL mid-start fault test, under TCG where runc run
// took seconds).

import t from 'tap';
import { ociSpec, readAll, startClient } from './harness';

const proc = (args: string[]) => Buffer.from(JSON.stringify({ args, env: ['PATH=/usr/bin:/bin'], cwd: '/' }));

t.test('an exec sent while crun is still making the container runs once it is made', async (t) => {
  const { h, client } = startClient(t);
  h.runtimeMakeDelayMs = 1500;
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  const start = client.call('StartContainer', { container_id: 'c1' });
  await new Promise((r) => setTimeout(r, 100));
  const w0 = await client.waitProcess({ container_id: 'c1', exec_id: '', wait_ms: 0 });
  t.same([w0.exited, w0.not_started], [false, false], 'mid-start the container reads as started (what a reattached host sees)');
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e1', process_json: proc(['echo', 'alive']) });
  const w = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 0], 'the exec ran in the made container');
  t.equal(await readAll(client, 'c1', 'e1', 'readStdout'), 'alive\n');
  t.equal(await readAll(client, 'c1', 'e1', 'readStderr'), '', 'crun did not refuse it');
  await start;
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});

t.test('a stop signal sent while crun is still making the container reaches it once made', async (t) => {
  const { h, client } = startClient(t);
  h.runtimeMakeDelayMs = 1000;
  await client.call('CreateContainer', { container_id: 'c2', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c2/rootfs' });
  const start = client.call('StartContainer', { container_id: 'c2' });
  await new Promise((r) => setTimeout(r, 100));
  await client.call('SignalProcess', { container_id: 'c2', exec_id: '', signal: 9 });
  const w = await client.waitProcess({ container_id: 'c2', exec_id: '', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 128 + 9], 'killed by the signal (crun kill did not fail)');
  await start.catch(() => undefined);
  await client.call('RemoveContainer', { container_id: 'c2', force: true });
});
