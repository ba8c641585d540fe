// A VM-image VM's command line, pure: firmware and machine, disks as fds
// in fdsets (never a path QEMU opens), a qcow2 node's backing always given
// (a base node or null), the socket serial console instead of the ring, the
// qemu-guest-agent port, and no vmpod agent; its validation and jail plan.

import t from 'tap';
import { buildQemuArgs, kernelParams, vmDevices } from '../../../../src/hypervisor/qemu/cmdline';
import { diskDevices, passedFiles } from '../../../../src/hypervisor/qemu/disk-files';
import { jailPlan, type JailHostFacts } from '../../../../src/hypervisor/qemu/jail';
import { validateVmConfig } from '../../../../src/hypervisor/qemu/validate';
import type { VmConfig, VmDisk } from '../../../../src/hypervisor/vm-config';
import { InvalidArgumentError } from '../../../../common/errors';

const RUN = '/run/vmpod/s/d1';

const overlay: VmDisk = { id: 'root', path: '/state/pods/p/overlay.qcow2', format: 'qcow2', readOnly: false, backing: { path: '/img/disk/cloud.raw', format: 'raw' }, bootIndex: 0 };
const cidata: VmDisk = { id: 'cidata', path: '/state/pods/p/cidata.iso', format: 'raw', readOnly: true };

function diskVm(over: Partial<VmConfig> = {}): VmConfig {
  return {
    id: 'pod1',
    runDir: RUN,
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 1024,
    firmware: 'seabios',
    disks: [overlay, cidata],
    console: { kind: 'socket', socketPath: `${RUN}/console.sock` },
    guestAgentSocket: `${RUN}/qga.sock`,
    ...over,
  };
}

/** The values following each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1]);
  });
  return out;
}

/** A check that the disk VM with `over` is refused by validation, with an error naming `field`. */
function refusedBy(t: { ok(v: unknown, msg: string): unknown; fail(msg: string): unknown }): (over: Partial<VmConfig>, field: RegExp, why: string) => void {
  return (over, field, why) => {
    try {
      validateVmConfig(diskVm(over));
      t.fail(`${why}: accepted`);
    } catch (e) {
      t.ok(e instanceof InvalidArgumentError && field.test(e.message), `${why}: ${(e as Error).message}`);
    }
  };
}

t.test('machine, firmware, no kernel', async (t) => {
  const args = buildQemuArgs(diskVm());
  t.same(values(args, '-machine'), ['pc,graphics=off,mem-merge=off'], 'pc without nvdimm; graphics=off: SeaBIOS speaks on ttyS0; never merged by KSM');
  t.same(values(args, '-bios'), [], 'SeaBIOS: QEMU’s default bios, no -bios');
  t.same(values(args, '-kernel'), [], 'no kernel');
  t.same(values(args, '-append'), []);
  t.notOk(args.includes('-S'), 'not paused');
  const ovmf = buildQemuArgs(diskVm({ firmware: 'ovmf', machine: 'q35' }));
  t.same(values(ovmf, '-machine'), ['q35,graphics=off,mem-merge=off']);
  t.same(values(ovmf, '-bios'), ['/usr/share/ovmf/OVMF.fd'], 'OVMF code+vars image, read-only as -bios');
});

t.test('disks: each file an inherited fd in its own fdset, opened as /dev/fdset/N, in disk order', async (t) => {
  t.same(passedFiles(diskVm()), [
    { path: overlay.path, format: 'qcow2', readOnly: false, what: 'disk root image', fd: 3, set: 1 },
    { path: '/img/disk/cloud.raw', format: 'raw', readOnly: true, what: 'disk root backing image', fd: 4, set: 2 },
    { path: cidata.path, format: 'raw', readOnly: true, what: 'disk cidata image', fd: 5, set: 3 },
  ]);
  const args = buildQemuArgs(diskVm());
  t.same(values(args, '-add-fd'), ['fd=3,set=1,opaque=disk-root-img', 'fd=4,set=2,opaque=disk-root-base', 'fd=5,set=3,opaque=disk-cidata-img']);
  const nodes = values(args, '-blockdev').map((j) => JSON.parse(j) as Record<string, unknown>);
  t.same(nodes, [
    { driver: 'raw', 'node-name': 'disk-root-base', 'read-only': true, file: { driver: 'file', filename: '/dev/fdset/2', 'read-only': true } },
    { driver: 'qcow2', 'node-name': 'disk-root-img', 'read-only': false, file: { driver: 'file', filename: '/dev/fdset/1', 'read-only': false }, backing: 'disk-root-base' },
    { driver: 'raw', 'node-name': 'disk-cidata-img', 'read-only': true, file: { driver: 'file', filename: '/dev/fdset/3', 'read-only': true } },
  ]);
  t.notOk(
    args.some((a) => a.includes(overlay.path) || a.includes('/img/disk')),
    'no image path on the command line',
  );
  const devs = values(args, '-device').filter((d) => d.startsWith('virtio-blk'));
  t.same(devs, ['virtio-blk-pci,id=disk-root,drive=disk-root-img,serial=root,bootindex=0', 'virtio-blk-pci,id=disk-cidata,drive=disk-cidata-img,serial=cidata']);
});

t.test('a qcow2 node never follows the backing name in its header: a base node, or null', async (t) => {
  const qcowBase = diskVm({ disks: [{ ...overlay, backing: { path: '/img/disk/cloud.qcow2', format: 'qcow2' } }] });
  const nodes = values(buildQemuArgs(qcowBase), '-blockdev').map((j) => JSON.parse(j) as Record<string, unknown>);
  t.equal(nodes[0]['node-name'], 'disk-root-base');
  t.equal(nodes[0].backing, null, 'the qcow2 base has backing null');
  t.equal(nodes[1].backing, 'disk-root-base');
  const lone = diskVm({ disks: [{ id: 'd', path: '/x.qcow2', format: 'qcow2', readOnly: true }] });
  const [node] = values(buildQemuArgs(lone), '-blockdev').map((j) => JSON.parse(j) as Record<string, unknown>);
  t.ok('backing' in node && node.backing === null, 'a qcow2 disk without a given backing has backing null');
  t.same(diskDevices(lone), [{ kind: 'fd-disk', id: 'd', image: { set: 1, fd: 3, format: 'qcow2' }, readOnly: true }]);
});

t.test('a disk file the daemon found to be a block device is read through host_device', async (t) => {
  const args = buildQemuArgs(diskVm(), undefined, new Set([2]));
  const nodes = values(args, '-blockdev').map((j) => JSON.parse(j) as { 'node-name': string; file: { driver: string } });
  t.same(
    nodes.map((n) => [n['node-name'], n.file.driver]),
    [
      ['disk-root-base', 'host_device'],
      ['disk-root-img', 'file'],
      ['disk-cidata-img', 'file'],
    ],
  );
});

t.test('shares: 9p per tag; read-only served as the real files and refused writes, writable as metadata', async (t) => {
  const shares = [
    { tag: 'vmpod:m0', path: '/var/lib/kubelet/pods/u/volumes/cm', readOnly: true },
    { tag: 'vmpod:m1', path: '/var/lib/kubelet/pods/u/volumes/empty', readOnly: false },
  ];
  const args = buildQemuArgs(diskVm({ shares }));
  t.same(values(args, '-fsdev'), [
    'local,id=share0,path=/var/lib/kubelet/pods/u/volumes/cm,security_model=none,multidevs=remap,readonly=on',
    'local,id=share1,path=/var/lib/kubelet/pods/u/volumes/empty,security_model=mapped-xattr,multidevs=remap',
  ]);
  t.same(
    values(args, '-device').filter((d) => d.startsWith('virtio-9p')),
    ['virtio-9p-pci,fsdev=share0,mount_tag=vmpod:m0', 'virtio-9p-pci,fsdev=share1,mount_tag=vmpod:m1'],
  );
  const facts: JailHostFacts = { links: {}, devices: [] };
  const plan = jailPlan(diskVm({ shares }), facts).filter((e) => e.path.startsWith('/var/lib/kubelet'));
  t.same(plan, [
    { kind: 'ro', path: '/var/lib/kubelet/pods/u/volumes/cm' },
    { kind: 'tree', path: '/var/lib/kubelet/pods/u/volumes/empty' },
  ]);
  const bad = refusedBy(t);
  bad({ shares: [shares[0], { ...shares[1], tag: 'vmpod:m0' }] }, /shares\[1\]\.tag/, 'one tag twice');
  bad({ shares: [{ ...shares[0], tag: 'a,b' }] }, /shares\[0\]\.tag/, 'a comma in a tag');
  bad({ shares: [{ ...shares[0], tag: 'x'.repeat(32) }] }, /shares\[0\]\.tag/, 'a tag too long');
  bad({ shares: [{ ...shares[0], path: 'rel' }] }, /shares\[0\]\.path/, 'a relative path');
  bad({ sharedDir: '/s', shares: [{ ...shares[0], tag: 'vmpod-shared' }] }, /shares\[0\]\.tag/, 'the pod share’s tag');
});

t.test('socket console instead of the ring; the guest end still pauses QEMU for the daemon to quit', async (t) => {
  const args = buildQemuArgs(diskVm());
  t.same(
    values(args, '-chardev').filter((c) => c.includes('id=console')),
    [`socket,id=console,path=${RUN}/console.sock,server=on,wait=off`],
  );
  t.same(values(args, '-serial'), ['chardev:console']);
  t.notOk(
    args.some((a) => a.startsWith('ringbuf')),
    'no ring',
  );
  t.same(values(args, '-action'), ['shutdown=pause', 'panic=shutdown']);
  t.ok(args.includes('-no-reboot'), 'a guest reboot ends QEMU, as for vmpod’s own guest');
});

t.test('qemu-guest-agent port: its own virtio-serial controller, or the serial agent’s', async (t) => {
  const args = buildQemuArgs(diskVm());
  t.same(
    values(args, '-device').filter((d) => d.startsWith('virtio-serial') || d.startsWith('virtserialport')),
    ['virtio-serial-pci,id=ser0', 'virtserialport,id=qga0,bus=ser0.0,chardev=qga0-chr,name=org.qemu.guest_agent.0'],
  );
  t.ok(values(args, '-chardev').includes(`socket,id=qga0-chr,path=${RUN}/qga.sock,server=on,wait=off`));
  const withAgent = buildQemuArgs(diskVm({ agent: { transport: 'serial', socketPath: `${RUN}/agent.sock` } }));
  t.same(
    values(withAgent, '-device').filter((d) => d.startsWith('virtio-serial-pci')),
    ['virtio-serial-pci,id=ser0'],
    'one controller when the serial agent channel brought it',
  );
  const none = buildQemuArgs(diskVm({ guestAgentSocket: undefined }));
  t.notOk(
    none.some((a) => a.includes('virtio-serial') || a.includes('guest_agent')),
    'no port, no controller unless asked for',
  );
});

t.test('no vmpod agent: no vsock, no agent port, no agent kernel parameters', async (t) => {
  const kinds = vmDevices(diskVm()).map((d) => d.kind);
  t.same(kinds, ['qmp', 'socket-console', 'pvpanic', 'fd-disk', 'fd-disk', 'virtio-serial-controller', 'virtio-serial-port']);
  t.same(kernelParams(diskVm({ boot: { kernel: '/k' } })), ['console=ttyS0', 'panic=1']);
  const withNet = vmDevices(diskVm({ network: { ifname: 'tap0', mac: '02:00:00:00:00:01' } })).map((d) => d.kind);
  t.equal(withNet.indexOf('tap-net'), withNet.length - 1, 'the NIC after the disks and ports');
  const nic = values(buildQemuArgs(diskVm({ network: { ifname: 'tap0', mac: '02:00:00:00:00:01' } })), '-device').filter((d) => d.startsWith('virtio-net'));
  t.same(nic, ['virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,romfile='], 'no iPXE ROM: the firmware never boots from the pod network');
});

t.test('validation names the field of each impossible disk VM', async (t) => {
  const bad = refusedBy(t);
  t.doesNotThrow(() => validateVmConfig(diskVm()), 'the usual disk VM is valid');
  t.doesNotThrow(() => validateVmConfig(diskVm({ firmware: 'ovmf', machine: 'q35' })));
  bad({ disks: [overlay, { ...cidata, id: 'root' }] }, /disks\[1\]\.id/, 'two disks with one id');
  bad({ disks: [{ ...cidata, id: 'a'.repeat(21) }] }, /disks\[0\]\.id/, 'an id longer than the 20-byte serial');
  bad({ disks: [{ ...cidata, id: 'a b' }] }, /disks\[0\]\.id/, 'a space in an id');
  bad({ disks: [{ ...cidata, id: 'a,b' }] }, /disks\[0\]\.id/, 'a comma in an id');
  bad({ disks: [{ ...cidata, id: '' }] }, /disks\[0\]\.id/, 'an empty id');
  bad({ disks: [overlay, { ...cidata, bootIndex: 0 }] }, /disks\[1\]\.bootIndex/, 'a boot index repeated');
  bad({ disks: [{ ...cidata, bootIndex: -1 }] }, /disks\[0\]\.bootIndex/, 'a negative boot index');
  bad({ disks: [{ ...cidata, bootIndex: 1.5 }] }, /disks\[0\]\.bootIndex/, 'a fractional boot index');
  bad({ disks: [{ ...cidata, backing: { path: '/b.raw', format: 'raw' } }] }, /disks\[0\]\.backing/, 'a backing for a raw disk');
  bad({ disks: [{ ...cidata, path: 'relative.iso' }] }, /disks\[0\]\.path/, 'a relative path');
  bad({ disks: [{ ...overlay, backing: { path: 'b.raw', format: 'raw' } }] }, /disks\[0\]\.backing\.path/, 'a relative backing path');
  bad({ disks: [{ ...cidata, format: 'vmdk' as 'raw' }] }, /disks\[0\]\.format/, 'an unknown format');
  bad({ disks: [{ ...overlay, backing: { path: overlay.path, format: 'qcow2' } }] }, /disks\[0\]\.backing\.path/, 'an overlay over itself');
  bad({ disks: [overlay, { ...cidata, id: 'again', path: overlay.path }] }, /disks\[1\]\.path/, 'one writable file as two disks');
  t.doesNotThrow(() => validateVmConfig(diskVm({ disks: [cidata, { ...cidata, id: 'again' }] })), 'one file read-only twice is fine');
  bad({ disks: Array.from({ length: 17 }, (_, i) => ({ ...cidata, id: `d${i}`, path: `/d${i}` })) }, /vmConfig\.disks/, 'too many disks');
  bad({ console: { kind: 'socket', socketPath: '/tmp/console.sock' } }, /console\.socketPath/, 'a console socket outside the run dir');
  bad({ console: { kind: 'socket', socketPath: `${RUN}/sub/console.sock` } }, /console\.socketPath/, 'a console socket below the run dir');
  bad({ console: { kind: 'socket', socketPath: `${RUN}/../d2/console.sock` } }, /console\.socketPath/, 'a console socket out of the run dir by ..');
  bad({ console: { kind: 'socket', socketPath: `${RUN}/qmp.sock` } }, /console\.socketPath/, 'the console on the QMP socket');
  bad({ guestAgentSocket: `${RUN}/console.sock` }, /guestAgentSocket/, 'the guest agent on the console socket');
  bad({ guestAgentSocket: '/elsewhere/qga.sock' }, /guestAgentSocket/, 'a guest-agent socket outside the run dir');
  bad({ guestAgentSocket: `${RUN}/${'q'.repeat(100)}.sock` }, /guestAgentSocket/, 'a socket path too long for sun_path');
  bad({ console: { kind: 'file' as 'socket', socketPath: `${RUN}/c.sock` } }, /console\.kind/, 'an unknown console kind');
  bad({ firmware: undefined }, /vmConfig\.boot/, 'no kernel and qboot: nothing to boot');
  bad({ firmware: 'qboot' }, /vmConfig\.boot/, 'qboot cannot boot a disk');
  bad({ firmware: 'uefi' as 'ovmf' }, /vmConfig\.firmware/, 'an unknown firmware');
  bad({ machine: 'microvm' as 'pc' }, /vmConfig\.machine/, 'an unknown machine');
});

t.test('jail plan without an agent: no image binds (fds), no vhost-vsock', async (t) => {
  const facts: JailHostFacts = {
    links: { '/bin': 'usr/bin', '/sbin': 'usr/sbin', '/lib': 'usr/lib', '/lib64': 'usr/lib64' },
    devices: ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/kvm', '/dev/net/tun', '/dev/vhost-net', '/dev/vhost-vsock'],
  };
  t.same(jailPlan(diskVm({ accel: 'kvm' }), facts), [
    { kind: 'ro', path: '/usr' },
    { kind: 'link', path: '/bin', target: 'usr/bin' },
    { kind: 'link', path: '/sbin', target: 'usr/sbin' },
    { kind: 'link', path: '/lib', target: 'usr/lib' },
    { kind: 'link', path: '/lib64', target: 'usr/lib64' },
    { kind: 'rw', path: RUN },
    { kind: 'dev', path: '/dev/null' },
    { kind: 'dev', path: '/dev/zero' },
    { kind: 'dev', path: '/dev/urandom' },
    { kind: 'dev', path: '/dev/random' },
    { kind: 'dev', path: '/dev/kvm' },
  ]);
  const withNic = jailPlan(diskVm({ accel: 'kvm', network: { ifname: 'tap0', mac: '02:00:00:00:00:01' }, netnsPath: '/run/netns/p' }), facts).map((e) => e.path);
  t.ok(withNic.includes('/dev/net/tun') && withNic.includes('/dev/vhost-net'), 'a NIC still gets tun and vhost-net');
  t.notOk(withNic.includes('/dev/vhost-vsock'));
});
