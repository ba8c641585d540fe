import t from 'tap';
import { silentLogger } from '../../../../src/log';
import { planShares, shareSkipReason, shareTag, vendorData } from '../../../../src/sandbox/vmimage/mounts';

const dirs = new Set(['/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/cfg', '/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/scratch', '/srv/data']);
const isDir = (p: string): boolean => dirs.has(p);

t.test('directory mounts become shares tagged by their index; file mounts stay out', async (t) => {
  const mounts = [
    { host_path: '/var/lib/kubelet/pods/u/etc-hosts', container_path: '/etc/hosts', readonly: false },
    { host_path: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/cfg', container_path: '/etc/app', readonly: true },
    { host_path: '/var/lib/kubelet/pods/u/containers/vm/abc', container_path: '/dev/termination-log', readonly: false },
    { host_path: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/scratch', container_path: '/scratch/./x', readonly: false },
  ];
  t.same(planShares(mounts, silentLogger, isDir), [
    { tag: 'vmpod:m1', hostPath: mounts[1].host_path, containerPath: '/etc/app', readOnly: true },
    { tag: 'vmpod:m3', hostPath: mounts[3].host_path, containerPath: '/scratch/x', readOnly: false },
  ]);
  t.match(shareTag(7), /^[^,\s]+:[^,\s]*$/, "a tag cloud-init's mounts module keeps (it has a ':'), without QEMU's separator");
});

t.test('mounts fstab cannot hold, or that would cover the root, are left out', async (t) => {
  const m = (container_path: string, host_path = '/srv/data') => ({ host_path, container_path, readonly: true });
  t.equal(shareSkipReason(m('/data'), isDir), undefined);
  t.match(shareSkipReason(m('/my data'), isDir), /blank/);
  t.match(shareSkipReason(m('/a\tb'), isDir), /blank/);
  t.match(shareSkipReason(m('/a\\040b'), isDir), /backslash/);
  t.match(shareSkipReason(m('/'), isDir), /guest root/);
  t.match(shareSkipReason(m('/x/../..'), isDir), /\.\./);
  t.match(shareSkipReason(m('relative'), isDir), /absolute/);
  t.match(shareSkipReason(m('/data', '/srv/file'), isDir), /not a directory/);
});

t.test('vendor-data: one fstab entry per share, read-only as the mount asks, nofail', async (t) => {
  const text = vendorData([
    { tag: 'vmpod:m1', hostPath: '/h1', containerPath: '/etc/app', readOnly: true },
    { tag: 'vmpod:m3', hostPath: '/h3', containerPath: '/scratch', readOnly: false },
  ]);
  t.equal(text.split('\n')[0], '#cloud-config');
  t.same(JSON.parse(text.slice(text.indexOf('\n') + 1)), {
    mounts: [
      ['vmpod:m1', '/etc/app', '9p', 'trans=virtio,version=9p2000.L,ro,nofail', '0', '0'],
      ['vmpod:m3', '/scratch', '9p', 'trans=virtio,version=9p2000.L,rw,nofail', '0', '0'],
    ],
  });
  t.same(JSON.parse(vendorData([]).slice(14)), {}, 'no shares: an empty cloud-config');
});
