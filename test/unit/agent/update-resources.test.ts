// UpdateContainerResources hands crun the resources in a file of their own,
// not on stdin: crun opens /dev/stdin for `--resources -`, and that fails
// (ENXIO) on the socket Node gives a child as its stdin pipe.

import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RemoteStatusError } from '../../../common/ttrpc';
import { GrpcStatus } from '../../../common/errors';
import { ociSpec, startClient } from './harness';

t.test('each update: crun update --resources <file> with the JSON, the file gone afterwards', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '30']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  const res = (n: number) => Buffer.from(JSON.stringify({ memory: { limit: n } }));
  // Two at once: each needs a file of its own.
  await Promise.all([
    client.call('UpdateContainerResources', { container_id: 'c1', resources_json: res(1 << 20) }),
    client.call('UpdateContainerResources', { container_id: 'c1', resources_json: res(2 << 20) }),
  ]);
  const updates = h.commands.filter((c) => c.cmd === 'crun' && c.args[0] === 'update');
  t.equal(updates.length, 2, 'two crun updates');
  for (const u of updates) {
    t.same([u.args[1], u.args[u.args.length - 1]], ['--resources', 'c1'], `${u.args.join(' ')}: resources from a file, for c1`);
    t.not(u.args[2], '-', 'not from stdin');
  }
  t.not(updates[0].args[2], updates[1].args[2], 'a file each');
  t.same(
    updates.map((u) => JSON.parse(u.input ?? '{}') as unknown).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    [{ memory: { limit: 1 << 20 } }, { memory: { limit: 2 << 20 } }],
    'crun read the JSON sent',
  );
  t.notOk(
    updates.some((u) => existsSync(u.args[2])),
    'the files are removed after crun read them',
  );
  t.same(
    readdirSync(join(h.dirs.bundles, 'c1')).filter((f) => f.startsWith('resources')),
    [],
    'nothing of them left in the bundle',
  );

  const err = await client.call('UpdateContainerResources', { container_id: 'c1', resources_json: Buffer.from('{nope') }).catch((e: unknown) => e);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.INVALID_ARGUMENT, 'not JSON: INVALID_ARGUMENT');
  t.equal(h.commands.filter((c) => c.cmd === 'crun' && c.args[0] === 'update').length, 2, 'and crun was not run for it');
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});
