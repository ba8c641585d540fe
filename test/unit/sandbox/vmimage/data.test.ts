import t from 'tap';
import { InternalError } from '../../../../common/errors';
import { decodeVmImageContainerData, decodeVmImagePodData } from '../../../../src/sandbox/vmimage/data';

const pod = {
  v: 1,
  netnsPath: '/run/netns/p',
  network: { tapName: 'tap0_vmpod', mac: '0a:58:0a:58:00:05', mtu: 1500, addresses: [], routes: [] },
  qemuUid: 1_900_000_000,
  accel: 'tcg',
  vcpus: 1,
  memoryMib: 1024,
};
const ctr = {
  v: 1,
  image: 'img',
  disk: { path: '/r/disk/d.qcow2', name: 'd.qcow2', format: 'qcow2', virtualSize: 1024 },
  overlay: '/s/overlay.qcow2',
  overlayPlan: 'reuse',
  firmware: 'ovmf',
  machine: 'q35',
  vcpus: 1,
  memoryMib: 1024,
  userDataFrom: 'pod annotation',
};

t.test('pod data round-trips and is checked field by field', async (t) => {
  t.same(decodeVmImagePodData(pod, 'p'), pod);
  const { network: _n, qemuUid: _u, ...bare } = pod;
  t.same(decodeVmImagePodData(bare, 'p'), bare, 'no network, no uid');
  const bad: [string, Record<string, unknown>][] = [
    ['no version', { ...pod, v: undefined }],
    ['a newer version', { ...pod, v: 2 }],
    ['netns not a string', { ...pod, netnsPath: 3 }],
    ['unknown accel', { ...pod, accel: 'hvf' }],
    ['zero vcpus', { ...pod, vcpus: 0 }],
    ['memory a string', { ...pod, memoryMib: '1024' }],
    ['a MAC that is not one', { ...pod, network: { ...pod.network, mac: '0a:58; rm -rf' } }],
    ['network without addresses', { ...pod, network: { ...pod.network, addresses: 'x' } }],
  ];
  for (const [desc, d] of bad) t.throws(() => decodeVmImagePodData(d, 'p'), InternalError, desc);
  t.equal(decodeVmImagePodData({ ...pod, qemuUid: -5 }, 'p').qemuUid, undefined, 'a negative uid is dropped, not used');
});

t.test('container data round-trips and is checked field by field', async (t) => {
  t.same(decodeVmImageContainerData(ctr, 'c'), { ...ctr, devices: [], shares: [] }, 'a record without devices or shares has none');
  const share = { tag: 'vmpod:m4', hostPath: '/var/lib/kubelet/x', containerPath: '/etc/app', readOnly: true };
  t.same(decodeVmImageContainerData({ ...ctr, shares: [share] }, 'c').shares, [share]);
  const dev = { serial: 'data-1', hostPath: '/dev/loop3', containerPath: '/dev/data-1', readOnly: false };
  t.same(decodeVmImageContainerData({ ...ctr, devices: [dev] }, 'c').devices, [dev]);
  const bad: [string, Record<string, unknown>][] = [
    ['no disk', { ...ctr, disk: undefined }],
    ['disk format vmdk', { ...ctr, disk: { ...ctr.disk, format: 'vmdk' } }],
    ['disk size 0', { ...ctr, disk: { ...ctr.disk, virtualSize: 0 } }],
    ['firmware qboot', { ...ctr, firmware: 'qboot' }],
    ['machine microvm', { ...ctr, machine: 'microvm' }],
    ['no overlay', { ...ctr, overlay: null }],
    ['devices not a list', { ...ctr, devices: 'x' }],
    ['a device serial QEMU would misparse', { ...ctr, devices: [{ serial: 'a,b=c', hostPath: '/dev/loop1', containerPath: '/x', readOnly: true }] }],
    ['a share tag that is not one vmpod makes', { ...ctr, shares: [{ tag: 'x,y', hostPath: '/h', containerPath: '/c', readOnly: true }] }],
    ['a relative share path', { ...ctr, shares: [{ tag: 'vmpod:m1', hostPath: 'h', containerPath: '/c', readOnly: true }] }],
    ['a relative device path', { ...ctr, devices: [{ serial: 'a', hostPath: 'loop1', containerPath: '/x', readOnly: true }] }],
  ];
  for (const [desc, d] of bad) t.throws(() => decodeVmImageContainerData(d, 'c'), InternalError, desc);
  t.throws(() => decodeVmImageContainerData({ ...ctr, v: 9 }, 'c1'), /container c1: vm-image data version 9/);
});
