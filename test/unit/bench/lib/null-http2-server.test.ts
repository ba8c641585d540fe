import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNullHttp2Server } from '../../../../bench/lib/null-http2-server';
import { criClient } from '../../../helpers/cri-client';

t.test('the null server answers any unary CRI call with an empty message and OK, from a process of its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-null-http2-'));
  const server = await startNullHttp2Server(join(dir, 'null.sock'));
  const client = criClient(server.socket);
  t.teardown(() => {
    client.close();
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  t.not(server.pid, process.pid);
  const v = await client.runtime.Version({ version: 'v1' }, 10_000);
  t.equal(v.runtime_name, '', 'Version: every field at its default');
  const l = await client.runtime.ListPodSandbox({}, 10_000);
  t.same(l.items, [], 'ListPodSandbox: no pods');
  const s = await client.image.ImageFsInfo({}, 10_000);
  t.same(s.image_filesystems, [], 'a call of the other service too');
});
