// The ImageService over real gRPC: vmpod's CRI server with the image
// handlers on a unix socket, driven by a grpc-js client as kubelet would.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { imageHandlers } from '../../src/cri/image';
import { createCriServer } from '../../src/cri/server';
import { createImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { criClient, type CriClient } from '../helpers/cri-client';
import { busyboxEntries, makeTar, RegistryPusher, type PushedImage } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { serveCriOn } from '../helpers/serve-cri';

let reg: RunningRegistry;
let dir: string;
let client: CriClient;
let img: PushedImage;
let stopServer: () => Promise<void>;

t.before(async () => {
  reg = await startRegistry();
  img = await new RegistryPusher(reg).pushImage('test/cri', 'v1', [{ tar: await makeTar(busyboxEntries()), compression: 'gzip' }], { config: { User: 'nobody' } });
  dir = mkdtempSync(join(tmpdir(), 'vmpod-image-cri-'));
  const svc = await createImageService({ root: join(dir, 'root'), registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  const { server } = createCriServer({ runtime: {}, image: imageHandlers(svc) }, silentLogger);
  const sock = join(dir, 'cri.sock');
  stopServer = await serveCriOn(server, sock);
  client = criClient(sock);
});
t.teardown(async () => {
  client?.close();
  await stopServer?.();
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

t.test('pull, status, list, fs info, remove over gRPC', async (t) => {
  const ref = `${reg.host}/test/cri:v1`;
  const inodes = async () => Number((await client.image.ImageFsInfo({})).image_filesystems[0]?.inodes_used?.value);
  // Asked before the pull: the snapshots' total is then known (none), and must be summed again after the pull and the remove.
  const before = await inodes();
  const pulled = await client.image.PullImage({ image: { image: ref } });
  t.equal(pulled.image_ref, img.configDigest, 'image_ref is the image id');

  const st = await client.image.ImageStatus({ image: { image: ref }, verbose: true });
  t.equal(st.image?.id, img.configDigest);
  t.same(st.image?.repo_tags, [ref]);
  t.equal(st.image?.username, 'nobody', 'username from config User');
  t.ok(Number(st.image?.size) > 0, 'size set');
  t.match(JSON.parse(st.info.info ?? '{}'), { manifestDigest: img.manifestDigest }, 'verbose info');

  t.equal((await client.image.ListImages({})).images.length, 1);
  t.equal((await client.image.ListImages({ filter: { image: { image: ref } } })).images.length, 1, 'filter matches');
  t.equal((await client.image.ListImages({ filter: { image: { image: 'busybox:nope' } } })).images.length, 0, 'filter excludes');
  const streamed = await new Promise<string[]>((resolve, reject) => {
    const ids: string[] = [];
    const s = client.raw.image.StreamImages({});
    s.on('data', (m: { images: { id: string }[] }) => ids.push(...m.images.map((i) => i.id)));
    s.on('error', reject);
    s.on('end', () => resolve(ids));
  });
  t.same(
    streamed,
    (await client.image.ListImages({})).images.map((i) => i.id),
    'StreamImages streams what ListImages lists',
  );

  const fs = await client.image.ImageFsInfo({});
  t.ok(Number(fs.image_filesystems[0]?.used_bytes?.value) > 1 << 20, 'used bytes');
  t.ok(Number(fs.image_filesystems[0]?.inodes_used?.value) > 5, 'inodes');
  const pulledInodes = await inodes();
  t.ok(pulledInodes > before + 5, `the pulled image's snapshot is counted (${before} inodes before the pull, ${pulledInodes} after): more than its few blobs and record`);

  await client.image.RemoveImage({ image: { image: img.configDigest } });
  t.equal((await client.image.ImageStatus({ image: { image: ref } })).image, null, 'gone after remove');
  await client.image.RemoveImage({ image: { image: ref } });
  t.pass('removing again succeeds');
  t.equal(await inodes(), before, 'after the remove (and its GC) the snapshot is no longer counted');
});

t.test('errors carry gRPC status codes', async (t) => {
  const cases: { desc: string; image: string; code: number }[] = [
    { desc: 'invalid reference', image: 'busybox@sha256:123', code: status.INVALID_ARGUMENT },
    { desc: 'unknown tag', image: `${reg.host}/test/cri:missing`, code: status.NOT_FOUND },
  ];
  for (const c of cases) await t.rejects(client.image.PullImage({ image: { image: c.image } }), { code: c.code }, c.desc);
});
