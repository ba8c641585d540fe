import t from 'tap';
import { commonDir, overlayLayers } from '../../../../src/sandbox/runc/staged-mounts';

t.test("an overlay's layers from its mountinfo super options", async (t) => {
  const entries = [
    { mountPoint: '/c/rootfs', fsType: 'overlay', superOptions: 'rw,lowerdir=l/AAA:l/BBB,upperdir=/img/containers/c/upper,workdir=/img/containers/c/work,uuid=on' },
    { mountPoint: '/x', fsType: 'ext4', superOptions: 'rw' },
    { mountPoint: '/sp ace', fsType: 'overlay', superOptions: 'rw,lowerdir=/a\\040b/fs,upperdir=/u,workdir=/w' },
  ];
  t.same(overlayLayers('/c/rootfs', entries), { lowerdirs: ['l/AAA', 'l/BBB'], upperdir: '/img/containers/c/upper', workdir: '/img/containers/c/work' }, 'relative short names kept as given');
  t.same(overlayLayers('/sp ace', entries).lowerdirs, ['/a b/fs'], 'octal escapes undone');
  t.throws(() => overlayLayers('/x', entries), /not an overlay/, 'another filesystem is refused');
  t.throws(() => overlayLayers('/none', entries), /not an overlay/, 'no mount is refused');
});

t.test('the directory holding every layer', async (t) => {
  t.equal(commonDir(['/img/snapshots/a/fs', '/img/snapshots/b/fs']), '/img/snapshots', 'several layers: the snapshots dir');
  t.equal(commonDir(['/img/snapshots/a/fs']), '/img/snapshots/a', 'one layer: its own dir');
  t.equal(commonDir(['/a/x', '/b/y']), '/', 'nothing shared but /');
});
