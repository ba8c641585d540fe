// Image volumes in the pod domain (src/pods/image-volumes.ts): the checks
// containerd makes, NOT_FOUND naming the image and the mount, and the
// rewrite into read-only binds the controllers see.

import t from 'tap';
import { InvalidArgumentError, NotFoundError } from '../../../common/errors';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { Mount__Output } from '../../../src/generated/cri/runtime/v1/Mount';
import { asBindMounts, checkedConfig, mountImageVolumes, planImageVolumes } from '../../../src/pods/image-volumes';

const mount = (o: Partial<Mount__Output>): Mount__Output => ({
  container_path: '/data',
  host_path: '',
  readonly: true,
  selinux_relabel: false,
  propagation: 'PROPAGATION_HOST_TO_CONTAINER',
  uidMappings: [],
  gidMappings: [],
  recursive_read_only: false,
  image: null,
  image_sub_path: '',
  ...o,
});
const imageSpec = (image: string) => ({ image, annotations: {}, user_specified_image: image, runtime_handler: '', image_ref: '' });
const images = {
  resolve: (ref: string) => {
    if (ref === 'present:1') return { id: `sha256:${'a'.repeat(64)}` };
    throw new NotFoundError('image', ref, 'pull it first');
  },
};

t.test('plan: checks and resolution', async (t) => {
  const host = mount({ host_path: '/srv', container_path: '/srv', readonly: false });
  const img = mount({ image: imageSpec('present:1'), image_sub_path: 'etc' });
  t.same(planImageVolumes(images, [host, img]), [{ index: 1, imageId: `sha256:${'a'.repeat(64)}`, subPath: 'etc' }], 'only image mounts, by index, with the image id');
  t.same(planImageVolumes(images, [host]), [], 'no image mounts: nothing');
  t.throws(
    () => planImageVolumes(images, [host, mount({ image: imageSpec('absent:2') })]),
    { constructor: NotFoundError, message: /^image "absent:2" not found: config\.mounts\[1\] \(image volume at \/data\)/ },
    'absent image: NOT_FOUND naming image and mount',
  );
  t.throws(
    () => planImageVolumes(images, [mount({ image: imageSpec('present:1'), host_path: '/etc' })]),
    { constructor: InvalidArgumentError, message: /config\.mounts\[0\]\.host_path: must be empty/ },
    'host_path with image',
  );
  t.throws(
    () => planImageVolumes(images, [mount({ image: imageSpec('present:1'), readonly: false })]),
    { constructor: InvalidArgumentError, message: /config\.mounts\[0\]\.readonly/ },
    'writable image volume',
  );
  t.throws(
    () => planImageVolumes(images, [mount({ host_path: '/srv', image_sub_path: 'x' })]),
    { constructor: InvalidArgumentError, message: /image_sub_path: is set, but the mount is not an image volume/ },
    'sub path without image',
  );
});

t.test('rewrite: read-only private binds, other mounts untouched', async (t) => {
  const host = mount({ host_path: '/srv', readonly: false });
  const img = mount({ image: imageSpec('present:1'), image_sub_path: 'etc' });
  const out = asBindMounts([host, img], new Map([[1, '/var/lib/vmpod/image/volumes/c/1/etc']]));
  t.equal(out[0], host, 'host mount is the same object');
  t.match(out[1], { host_path: '/var/lib/vmpod/image/volumes/c/1/etc', readonly: true, propagation: 'PROPAGATION_PRIVATE', image: null, image_sub_path: '', container_path: '/data' });
  const cfg = { mounts: [host, img] } as unknown as ContainerConfig__Output;
  t.match(checkedConfig(cfg).mounts[1], { readonly: true, propagation: 'PROPAGATION_PRIVATE', host_path: /image volume present:1/ }, 'what checkContainer sees');
  const plain = { mounts: [host] } as unknown as ContainerConfig__Output;
  t.equal(checkedConfig(plain), plain, 'config without image mounts is passed as is');
});

t.test('mount: all or nothing', async (t) => {
  const calls: string[] = [];
  const cfg = { mounts: [mount({ image: imageSpec('present:1') }), mount({ image: imageSpec('present:1'), image_sub_path: 'bad' })] } as unknown as ContainerConfig__Output;
  const plan = planImageVolumes(images, cfg.mounts);
  const fake = {
    mountVolume: async (cid: string, i: number, _id: string, sub: string) => {
      calls.push(`mount ${cid} ${i}`);
      if (sub === 'bad') throw new InvalidArgumentError(`config.mounts[${i}].image_sub_path`, 'refused');
      return `/v/${cid}/${i}`;
    },
    releaseVolumes: async (cid: string) => void calls.push(`release ${cid}`),
  };
  await t.rejects(mountImageVolumes(fake, 'c1', cfg, plan), { constructor: InvalidArgumentError, message: /refused/ }, 'second mount refused');
  t.same(calls, ['mount c1 0', 'mount c1 1', 'release c1'], 'first view released when the second fails');
  calls.length = 0;
  const ok = await mountImageVolumes(fake, 'c2', { mounts: [cfg.mounts[0]] } as unknown as ContainerConfig__Output, plan.slice(0, 1));
  t.equal(ok.mounts[0].host_path, '/v/c2/0');
  t.same(calls, ['mount c2 0']);
});
