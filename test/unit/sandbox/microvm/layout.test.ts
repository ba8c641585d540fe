import t from 'tap';
import { InvalidArgumentError } from '../../../../common/errors';
import { GUEST_SHARED_DIR, GUEST_VOLUME_DIR, guestPath, mountPlace, podPaths, sharePath } from '../../../../src/sandbox/microvm/layout';

t.test('pod paths', async (t) => {
  const p = podPaths('/run/vmpod', 'abc123');
  t.same(p, {
    dir: '/run/vmpod/sandboxes/abc123',
    shareSource: '/run/vmpod/sandboxes/abc123/share-src',
    shared: '/run/vmpod/sandboxes/abc123/shared',
    volumeSource: '/run/vmpod/sandboxes/abc123/share-rw-src',
    volumes: '/run/vmpod/sandboxes/abc123/share-rw',
    record: '/run/vmpod/sandboxes/abc123/microvm.json',
    vmRunDir: '/run/vmpod/vm/abc123',
  });
  const longId = 'a'.repeat(64);
  t.ok(`${podPaths('/run/vmpod', longId).vmRunDir}/agent.sock`.length <= 107, 'agent socket of a 64-char id fits sun_path under the default state dir');
});

t.test('ids that would escape their directory are refused', async (t) => {
  for (const [desc, id] of [
    ['dot-dot', '..'],
    ['slash', 'a/b'],
    ['empty', ''],
    ['leading dot', '.x'],
  ]) {
    t.throws(() => podPaths('/s', id), InvalidArgumentError, `pod id: ${desc}`);
    t.throws(() => sharePath.rootfs(id), InvalidArgumentError, `container id: ${desc}`);
  }
});

t.test('share-relative paths and their guest view', async (t) => {
  t.equal(sharePath.rootfs('c1'), 'c/c1/rootfs');
  t.equal(sharePath.mount('c1', 3), 'c/c1/m/3');
  t.equal(sharePath.podFile('resolv.conf'), 'pod/resolv.conf');
  t.equal(guestPath(sharePath.rootfs('c1')), `${GUEST_SHARED_DIR}/c/c1/rootfs`);
});

t.test('the volume share is mounted inside the pod share, so every guest path is under one share dir', async (t) => {
  t.equal(GUEST_VOLUME_DIR, `${GUEST_SHARED_DIR}/v`);
  t.equal(guestPath(sharePath.inVolumeShare(sharePath.mount('c1', 2))), `${GUEST_VOLUME_DIR}/c/c1/m/2`);
});

t.test('writable CRI mounts go to the volume share, read-only ones (and every mount of a pod without it) to the pod share', async (t) => {
  t.same(mountPlace('c1', 0, false, true), { share: 'volumes', rel: 'c/c1/m/0', guestRel: 'v/c/c1/m/0' }, 'writable');
  t.same(mountPlace('c1', 1, true, true), { share: 'pod', rel: 'c/c1/m/1', guestRel: 'c/c1/m/1' }, 'read-only: host symlinks (..data) must resolve');
  t.same(mountPlace('c1', 2, false, false), { share: 'pod', rel: 'c/c1/m/2', guestRel: 'c/c1/m/2' }, 'writable, in a pod started without a volume share');
  t.throws(() => mountPlace('../x', 0, false, true), InvalidArgumentError, 'the container id is checked');
});
