// The ImageService handlers against a service with an empty store: CRI
// semantics that need no registry (absent image, idempotent remove,
// validation, filesystem info), and the record → CRI Image mapping.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageHandlers } from '../../../../src/cri/image';
import { toCriImage } from '../../../../src/cri/image/to-cri';
import { createImageService, type ImageRecord } from '../../../../src/image';
import type { ImageFsInfoResponse__Output } from '../../../../src/generated/cri/runtime/v1/ImageFsInfoResponse';
import { silentLogger } from '../../../../src/log';

const root = mkdtempSync(join(tmpdir(), 'vmpod-cri-image-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const ctx = { log: silentLogger, signal: new AbortController().signal };

t.test('handlers', async (t) => {
  const svc = await createImageService({ root, registries: {}, log: silentLogger });
  const h = imageHandlers(svc);
  t.same(Object.keys(h).sort(), ['ImageFsInfo', 'ImageStatus', 'ListImages', 'PullImage', 'RemoveImage']);
  t.same(await h.ImageStatus({ image: { image: 'busybox' }, verbose: true }, ctx), { image: null, info: {} }, 'absent image: image unset, no error');
  t.same(await h.RemoveImage({ image: { image: 'busybox' } }, ctx), {}, 'removing an absent image succeeds');
  t.same(await h.ListImages({ filter: null }, ctx), { images: [] });
  await t.rejects(h.PullImage({ image: { image: 'Bad/Ref' }, auth: null }, ctx), { code: 'INVALID_ARGUMENT', field: 'image.image' }, 'bad reference');
  await t.rejects(h.PullImage({ image: null, auth: null }, ctx), { code: 'INVALID_ARGUMENT', field: 'image' }, 'missing image');
  const strict = imageHandlers(svc, ['runc', 'vm']);
  for (const m of ['PullImage', 'ImageStatus', 'RemoveImage']) {
    await t.rejects(
      strict[m]({ image: { image: 'busybox', runtime_handler: 'kata' }, auth: null }, ctx),
      { code: 'INVALID_ARGUMENT', field: 'image.runtime_handler' },
      `${m}: a runtime handler the node does not have`,
    );
  }
  t.same(await strict.ImageStatus({ image: { image: 'busybox', runtime_handler: 'vm' } }, ctx), { image: null, info: {} }, 'a known handler is fine (images are shared by all handlers)');
  t.same(await strict.ImageStatus({ image: { image: 'busybox', runtime_handler: '' } }, ctx), { image: null, info: {} }, '"" is the default handler');
  const fs = (await h.ImageFsInfo({}, ctx)) as ImageFsInfoResponse__Output;
  t.equal(fs.image_filesystems[0].fs_id?.mountpoint, join(root, 'image'), 'image fs mountpoint');
  t.match(fs.image_filesystems[0].used_bytes?.value, /^\d+$/, 'used bytes as uint64 string');
  t.match(fs.container_filesystems[0].inodes_used?.value, /^\d+$/, 'container fs inodes');
});

t.test('record → CRI Image', async (t) => {
  const rec = {
    id: `sha256:${'a'.repeat(64)}`,
    repoTags: ['docker.io/library/x:1'],
    repoDigests: [],
    size: 1234,
    config: { User: '1000:1000', Env: [], Entrypoint: [], Cmd: [], ExposedPorts: [], Volumes: [], Labels: {} },
    pinned: false,
  } as unknown as ImageRecord;
  const img = toCriImage(rec);
  t.equal(img.size, '1234');
  t.same(img.uid, { value: '1000' }, 'numeric user becomes uid');
  t.equal(img.username, '');
  const named = toCriImage({ ...rec, config: { ...rec.config, User: 'www-data' } });
  t.equal(named.uid, null);
  t.equal(named.username, 'www-data', 'named user becomes username');
});
