import t from 'tap';
import { deviceArgs, type Device } from '../../../../../src/hypervisor/qemu/devices';
import { opts } from '../../../../../src/hypervisor/qemu/devices/opts';
import { InvalidArgumentError } from '../../../../../common/errors';

const cases: Array<{ desc: string; device: Device; expect: string[] }> = [
  {
    desc: 'nvdimm-rootfs',
    device: { kind: 'nvdimm-rootfs', id: 'rootfs', imagePath: '/img', sizeBytes: 2097152 },
    expect: ['-object', 'memory-backend-file,id=rootfs,share=on,readonly=on,mem-path=/img,size=2097152', '-device', 'nvdimm,memdev=rootfs,id=rootfs-nv,unarmed=on'],
  },
  {
    desc: 'virtio-9p',
    device: { kind: 'virtio-9p', id: 'shared', path: '/s', mountTag: 'vmpod-shared' },
    expect: ['-fsdev', 'local,id=shared,path=/s,security_model=none,multidevs=remap', '-device', 'virtio-9p-pci,fsdev=shared,mount_tag=vmpod-shared'],
  },
  { desc: 'vsock', device: { kind: 'vsock', id: 'vsock0', cid: 3 }, expect: ['-device', 'vhost-vsock-pci,id=vsock0,guest-cid=3'] },
  {
    desc: 'virtio-serial-agent',
    device: { kind: 'virtio-serial-agent', socketPath: '/a.sock', portName: 'vmpod.agent' },
    expect: ['-device', 'virtio-serial-pci,id=ser0', '-chardev', 'socket,id=agent,path=/a.sock,server=on,wait=off', '-device', 'virtserialport,bus=ser0.0,chardev=agent,name=vmpod.agent'],
  },
  {
    desc: 'tap-net with vhost',
    device: { kind: 'tap-net', id: 'net0', tap: { ifname: 'tap0' }, mac: '02:00:00:00:00:01', vhost: true },
    expect: ['-netdev', 'tap,id=net0,ifname=tap0,script=no,downscript=no,vhost=on', '-device', 'virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01'],
  },
  {
    desc: 'virtio-blk read-only: the file node is read-only too',
    device: { kind: 'virtio-blk', id: 'disk0', path: '/img,1.raw', format: 'raw', readOnly: true },
    expect: ['-blockdev', 'driver=raw,node-name=disk0-blk,read-only=on,file.driver=file,file.filename=/img,,1.raw,file.read-only=on', '-device', 'virtio-blk-pci,id=disk0,drive=disk0-blk'],
  },
  {
    desc: 'virtio-blk writable qcow2',
    device: { kind: 'virtio-blk', id: 'disk1', path: '/d.qcow2', format: 'qcow2', readOnly: false },
    expect: ['-blockdev', 'driver=qcow2,node-name=disk1-blk,read-only=off,file.driver=file,file.filename=/d.qcow2,file.read-only=off', '-device', 'virtio-blk-pci,id=disk1,drive=disk1-blk'],
  },
  {
    desc: 'virtio-serial-port',
    device: { kind: 'virtio-serial-port', id: 'agent1', socketPath: '/r/a1.sock', name: 'vmpod.agent', bus: 'ser0.0' },
    expect: ['-chardev', 'socket,id=agent1-chr,path=/r/a1.sock,server=on,wait=off', '-device', 'virtserialport,id=agent1,bus=ser0.0,chardev=agent1-chr,name=vmpod.agent'],
  },
  { desc: 'qmp', device: { kind: 'qmp', socketPath: '/q.sock' }, expect: ['-qmp', 'unix:/q.sock,server=on,wait=off'] },
  {
    desc: 'serial-console',
    device: { kind: 'serial-console', logPath: '/c.log' },
    expect: ['-action', 'shutdown=pause', '-chardev', 'ringbuf,id=console,size=1048576', '-serial', 'chardev:console'],
  },
  { desc: 'pvpanic exits instead of pausing on panic', device: { kind: 'pvpanic' }, expect: ['-device', 'pvpanic', '-action', 'panic=shutdown'] },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    t.same(deviceArgs(c.device), c.expect);
  });
}

t.test('a tap fd on the command line is refused: it can only be hot-plugged', async (t) => {
  t.throws(() => deviceArgs({ kind: 'tap-net', id: 'net1', tap: { fd: 7 }, mac: '02:00:00:00:00:01', vhost: false }), InvalidArgumentError);
});

t.test('qmp socket path with a comma is refused (legacy syntax cannot escape it)', async (t) => {
  t.throws(() => deviceArgs({ kind: 'qmp', socketPath: '/a,b.sock' }), InvalidArgumentError);
});

t.test('opts doubles commas and refuses newlines', async (t) => {
  t.equal(opts('x', [['path', '/a,b']]), 'x,path=/a,,b');
  t.throws(() => opts('x', [['path', '/a\nb']]), InvalidArgumentError);
});
