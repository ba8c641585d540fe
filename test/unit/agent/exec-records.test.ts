// The agent forgets an exec once the host has collected it (exit and both
// streams read to their end); it used to keep every finished exec of a
// long-lived pod forever. The number of records per container is bounded.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { GrpcStatus } from '../../../common/errors';
import type { RemoteStatusError } from '../../../common/ttrpc';
import { MAX_EXECS_PER_CONTAINER } from '../../../agent/src/container-manager';
import { ociSpec, readAll, startClient } from './harness';

const proc = (args: string[]) => Buffer.from(JSON.stringify({ args, env: ['PATH=/usr/bin:/bin'], cwd: '/' }));

t.test('an exec collected by the host is forgotten (finished execs were kept forever)', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'e1', process_json: proc(['echo', 'hi']) });
  const w = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 5000 });
  t.same([w.exited, w.exit_code], [true, 0]);
  t.equal(h.deps.containers.execCount('c1'), 1, 'kept while its output is unread');
  t.equal(await readAll(client, 'c1', 'e1', 'readStdout'), 'hi\n');
  t.equal(h.deps.containers.execCount('c1'), 1, 'kept while stderr is not read to its end');
  t.equal(await readAll(client, 'c1', 'e1', 'readStderr'), '');
  t.equal(h.deps.containers.execCount('c1'), 0, 'forgotten once exit and both streams were collected');
  const err = await client.waitProcess({ container_id: 'c1', exec_id: 'e1', wait_ms: 0 }).catch((e: unknown) => e as RemoteStatusError);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.NOT_FOUND, 'a forgotten exec is NOT_FOUND');
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});

t.test('at most MAX_EXECS_PER_CONTAINER records: finished ones make room, running ones refuse more', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'done', process_json: proc(['true']) });
  t.equal((await client.waitProcess({ container_id: 'c1', exec_id: 'done', wait_ms: 5000 })).exited, true);
  for (let i = 1; i < MAX_EXECS_PER_CONTAINER; i++) await client.call('ExecProcess', { container_id: 'c1', exec_id: `s${i}`, process_json: proc(['sleep', '60']) });
  t.equal(h.deps.containers.execCount('c1'), MAX_EXECS_PER_CONTAINER, 'at the bound');
  await client.call('ExecProcess', { container_id: 'c1', exec_id: 'more', process_json: proc(['sleep', '60']) });
  t.equal(h.deps.containers.execCount('c1'), MAX_EXECS_PER_CONTAINER, 'the finished one made room');
  const err = await client.call('ExecProcess', { container_id: 'c1', exec_id: 'refused', process_json: proc(['sleep', '60']) }).catch((e: unknown) => e as RemoteStatusError);
  t.equal((err as RemoteStatusError).grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED, 'all running: RESOURCE_EXHAUSTED');
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
});

t.test('RemoveContainer takes a bundle a late `crun exec` is still writing into (it failed with ENOTEMPTY)', async (t) => {
  const { h, client } = startClient(t);
  await client.call('CreateContainer', { container_id: 'c1', oci_spec_json: ociSpec(['sleep', '60']), rootfs_path: 'c1/rootfs' });
  await client.call('StartContainer', { container_id: 'c1' });
  const bundle = join(h.dirs.bundles, 'c1');
  // As a `crun exec` started just before would: files appear in the bundle while it is removed, here for 50 ms.
  let written = 0;
  const until = Date.now() + 50;
  const writer = new Promise<void>((done) => {
    const tick = (): void => {
      if (Date.now() > until) return done();
      try {
        writeFileSync(join(bundle, `exec-late-${written}.pid`), '1');
        written++;
      } catch {
        // the directory is gone between two retries: a late writer's ENOENT, as crun's
      }
      setImmediate(tick);
    };
    tick();
  });
  await client.call('RemoveContainer', { container_id: 'c1', force: true });
  await writer;
  t.ok(written > 0, `files appeared during the removal (${written})`);
  t.notOk(existsSync(bundle), 'the bundle is gone (a write after that fails with ENOENT, as a late crun exec does)');
  t.throws(() => h.deps.containers.execCount('c1'), { name: 'NotFoundError' }, 'the container is forgotten');
});
