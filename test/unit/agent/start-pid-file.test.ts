// StartContainer answers once crun's pid file names the container's process.
// The agent sleeps on an inotify watch of the bundle until then, not on a
// 10 ms poll (under TCG the poll took a third of the guest's one vCPU from
// crun, docs/performance.md); these cases are the ways the file can appear,
// or not, that the watch must not miss.

import t from 'tap';
import { ociSpec, startClient } from './harness';

t.test('a pid file crun writes in place (empty first, the pid later) is read once the pid is in it', async (t) => {
  const { h, client } = startClient(t);
  h.runtimePidFile = 'in-place';
  h.runtimeMakeDelayMs = 300;
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  const { pid } = await client.call('StartContainer', { container_id: 'c1' });
  t.equal(pid, h.children[h.children.length - 1].pid, "the container's pid, not an empty read's");
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});

t.test('a pid file written whole (renamed into place) after a while is read', async (t) => {
  const { h, client } = startClient(t);
  h.runtimeMakeDelayMs = 300;
  await client.call('CreateContainer', { container_id: 'c2', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c2/rootfs' });
  const { pid } = await client.call('StartContainer', { container_id: 'c2' });
  t.equal(pid, h.children[h.children.length - 1].pid);
  await client.call('RemoveContainer', { container_id: 'c2', force: true });
});

t.test('a crun that exits without writing its pid file: StartContainer answers with its pid and the exit is reported', async (t) => {
  const { h, client } = startClient(t);
  h.runtimePidFile = 'never';
  await client.call('CreateContainer', { container_id: 'c3', oci_spec_json: ociSpec(['sh', '-c', 'exit 3']), rootfs_path: 'c3/rootfs' });
  const { pid } = await client.call('StartContainer', { container_id: 'c3' });
  t.equal(pid, h.children[h.children.length - 1].pid, "crun's own pid stands in");
  const w = await client.waitProcess({ container_id: 'c3', exec_id: '', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 3]);
  await client.call('RemoveContainer', { container_id: 'c3', force: true });
});
