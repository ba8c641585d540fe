import t from 'tap';
import { buildQemuArgs, DEFAULT_QEMU_OPTIONS, kernelParams, memoryArg, mergeParams } from '../../../../src/hypervisor/qemu/cmdline';
import type { VmConfig } from '../../../../src/hypervisor/vm-config';
import { InvalidArgumentError } from '../../../../common/errors';

const MIB = 1024 * 1024;

function base(over: Partial<VmConfig> = {}): VmConfig {
  return {
    id: 'pod1',
    runDir: '/run/vmpod/vm/pod1',
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 512,
    boot: { kernel: '/g/vmlinux', initrd: '/g/initramfs.cpio.gz' },
    agent: { transport: 'serial', socketPath: '/run/vmpod/vm/pod1/agent.sock' },
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

const cases: Array<{ desc: string; cfg: VmConfig; flag: string; expect: string[] }> = [
  { desc: 'machine pc with nvdimm, no accel= in -machine, never merged by KSM unless asked', cfg: base(), flag: '-machine', expect: ['pc,nvdimm=on,mem-merge=off'] },
  { desc: 'memoryMerge: the guest RAM may be merged by KSM', cfg: base({ memoryMerge: true }), flag: '-machine', expect: ['pc,nvdimm=on,mem-merge=on'] },
  { desc: 'tcg single-threaded for one vCPU', cfg: base(), flag: '-accel', expect: ['tcg,thread=single'] },
  { desc: 'tcg multi-threaded for two vCPUs', cfg: base({ vcpus: 2 }), flag: '-accel', expect: ['tcg,thread=multi'] },
  { desc: 'kvm accel', cfg: base({ accel: 'kvm' }), flag: '-accel', expect: ['kvm'] },
  { desc: 'cpu host only with kvm', cfg: base({ accel: 'kvm' }), flag: '-cpu', expect: ['host'] },
  { desc: 'cpu max with tcg', cfg: base(), flag: '-cpu', expect: ['max'] },
  { desc: 'smp', cfg: base({ vcpus: 3 }), flag: '-smp', expect: ['3'] },
  { desc: 'tcg multi-threaded when vCPUs can be hot-plugged', cfg: base({ resize: { maxVcpus: 2 } }), flag: '-accel', expect: ['tcg,thread=multi'] },
  { desc: 'tcg translation buffer bounded when configured', cfg: base({ tcgTbSizeMib: 64 }), flag: '-accel', expect: ['tcg,thread=single,tb-size=64'] },
  { desc: 'no tb-size under kvm (no translation buffer there)', cfg: base({ accel: 'kvm', tcgTbSizeMib: 64 }), flag: '-accel', expect: ['kvm'] },
  {
    desc: 'free page reporting: a balloon after every other device, so their PCI slots do not move',
    cfg: base({ freePageReporting: true, sharedDir: '/s', agent: { transport: 'vsock', cid: 42 } }),
    flag: '-device',
    expect: ['pvpanic', 'virtio-9p-pci,fsdev=shared,mount_tag=vmpod-shared', 'vhost-vsock-pci,id=vsock0,guest-cid=42', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on'],
  },
  {
    desc: 'guest memory figures: a balloon that QEMU polls, with or without free page reporting',
    cfg: base({ guestStatsIntervalS: 5 }),
    flag: '-device',
    expect: [
      'pvpanic',
      'virtio-serial-pci,id=ser0',
      'virtserialport,bus=ser0.0,chardev=agent,name=vmpod.agent',
      'virtio-balloon-pci,id=balloon0,free-page-reporting=off,guest-stats-polling-interval=5',
    ],
  },
  {
    desc: 'no balloon unless asked for',
    cfg: base({ freePageReporting: false }),
    flag: '-device',
    expect: ['pvpanic', 'virtio-serial-pci,id=ser0', 'virtserialport,bus=ser0.0,chardev=agent,name=vmpod.agent'],
  },
  {
    desc: "a template's own boot: guest RAM in the inherited memfd, shared, never merged",
    cfg: base({ memoryFile: { fd: 9, shared: true } }),
    flag: '-object',
    expect: ['memory-backend-file,id=ram0,size=512M,mem-path=/proc/self/fd/3,share=on,merge=off'],
  },
  {
    desc: 'a VM restored from a template: its RAM file mapped copy-on-write, after the disk files in fd order',
    cfg: base({
      memoryFile: { fd: 9, shared: false },
      restoreFrom: '/s/t.state',
      disks: [{ id: 'd0', path: '/d.qcow2', format: 'qcow2', readOnly: false, backing: { path: '/b.raw', format: 'raw' } }],
    }),
    flag: '-object',
    expect: ['memory-backend-file,id=ram0,size=512M,mem-path=/proc/self/fd/5,share=off,merge=off'],
  },
  { desc: 'guest RAM in a file is the machine memory backend', cfg: base({ memoryFile: { fd: 9, shared: true } }), flag: '-machine', expect: ['pc,nvdimm=on,mem-merge=off', 'memory-backend=ram0'] },
  { desc: 'a restored VM waits for its state over QMP', cfg: base({ memoryFile: { fd: 9, shared: false }, restoreFrom: '/s/t.state' }), flag: '-incoming', expect: ['defer'] },
  { desc: 'a booted VM waits for no state', cfg: base({ memoryFile: { fd: 9, shared: true } }), flag: '-incoming', expect: [] },
  { desc: 'smp with resize headroom: maxcpus', cfg: base({ vcpus: 1, resize: { maxVcpus: 4 } }), flag: '-smp', expect: ['1,maxcpus=4'] },
  {
    desc: 'resizable: its RAM backend spans the headroom',
    cfg: base({ resize: { maxVcpus: 1 }, hotplugMemoryMib: 256 }),
    flag: '-object',
    expect: ['memory-backend-ram,id=vmem0-ram,size=256M'],
  },
  { desc: 'not resizable: no virtio-mem', cfg: base(), flag: '-object', expect: [] },
  { desc: 'memory with slots and maxmem (default hotplug = memory)', cfg: base(), flag: '-m', expect: ['512M,slots=2,maxmem=1024M'] },
  {
    desc: 'maxmem includes the rootfs nvdimm and explicit hotplug',
    cfg: base({ rootfs: { path: '/g/rootfs.img', sizeBytes: 256 * MIB }, hotplugMemoryMib: 128 }),
    flag: '-m',
    expect: ['512M,slots=2,maxmem=896M'],
  },
  { desc: 'kernel', cfg: base(), flag: '-kernel', expect: ['/g/vmlinux'] },
  { desc: 'initrd', cfg: base(), flag: '-initrd', expect: ['/g/initramfs.cpio.gz'] },
  { desc: 'no initrd when absent', cfg: base({ boot: { kernel: '/g/vmlinux' } }), flag: '-initrd', expect: [] },
  {
    desc: 'append: console, panic, agent transport serial and port, the agent interpreted under tcg, extra params last',
    cfg: base({ boot: { kernel: '/k', params: ['quiet', 'vmpod.debug=1'] } }),
    flag: '-append',
    expect: ['console=ttyS0 panic=1 vmpod.agent=serial vmpod.agent_port=vmpod.agent vmpod.jitless=1 quiet vmpod.debug=1'],
  },
  { desc: 'append: vsock transport', cfg: base({ agent: { transport: 'vsock', cid: 7 } }), flag: '-append', expect: ['console=ttyS0 panic=1 vmpod.agent=vsock vmpod.jitless=1'] },
  { desc: "append: kvm keeps the agent's JIT", cfg: base({ accel: 'kvm', agent: { transport: 'vsock', cid: 7 } }), flag: '-append', expect: ['console=ttyS0 panic=1 vmpod.agent=vsock'] },
  { desc: 'append: no agent (a VM image), no vmpod.jitless under tcg', cfg: base({ agent: undefined }), flag: '-append', expect: ['console=ttyS0 panic=1'] },
  {
    desc: 'rootfs as read-only shared memory backend',
    cfg: base({ rootfs: { path: '/g/rootfs.img', sizeBytes: 64 * MIB } }),
    flag: '-object',
    expect: [`memory-backend-file,id=rootfs,share=on,readonly=on,mem-path=/g/rootfs.img,size=${64 * MIB}`],
  },
  {
    desc: 'rootfs nvdimm unarmed, plus the agent serial devices',
    cfg: base({ rootfs: { path: '/g/rootfs.img', sizeBytes: 64 * MIB } }),
    flag: '-device',
    expect: ['pvpanic', 'nvdimm,memdev=rootfs,id=rootfs-nv,unarmed=on', 'virtio-serial-pci,id=ser0', 'virtserialport,bus=ser0.0,chardev=agent,name=vmpod.agent'],
  },
  {
    desc: 'virtio-9p of the pod shared dir only',
    cfg: base({ sharedDir: '/var/lib/vmpod/sandboxes/pod1/shared' }),
    flag: '-fsdev',
    expect: ['local,id=shared,path=/var/lib/vmpod/sandboxes/pod1/shared,security_model=none,multidevs=remap'],
  },
  {
    desc: 'the volume dir is a second 9p export, mapped-xattr: what the guest sets there stays metadata on the host',
    cfg: base({ sharedDir: '/p/shared', volumeDir: '/p/share-rw' }),
    flag: '-fsdev',
    expect: ['local,id=shared,path=/p/shared,security_model=none,multidevs=remap', 'local,id=volumes,path=/p/share-rw,security_model=mapped-xattr,multidevs=remap'],
  },
  {
    desc: 'the volume export has its own device and mount tag',
    cfg: base({ sharedDir: '/p/shared', volumeDir: '/p/share-rw' }),
    flag: '-device',
    expect: [
      'pvpanic',
      'virtio-9p-pci,fsdev=shared,mount_tag=vmpod-shared',
      'virtio-9p-pci,fsdev=volumes,mount_tag=vmpod-volumes',
      'virtio-serial-pci,id=ser0',
      'virtserialport,bus=ser0.0,chardev=agent,name=vmpod.agent',
    ],
  },
  {
    desc: 'virtio-9p device with mount tag; vsock device',
    cfg: base({ sharedDir: '/s', agent: { transport: 'vsock', cid: 42 } }),
    flag: '-device',
    expect: ['pvpanic', 'virtio-9p-pci,fsdev=shared,mount_tag=vmpod-shared', 'vhost-vsock-pci,id=vsock0,guest-cid=42'],
  },
  {
    desc: 'serial agent chardev: server, no wait; serial console in a ring QEMU holds',
    cfg: base(),
    flag: '-chardev',
    expect: ['ringbuf,id=console,size=1048576', 'socket,id=agent,path=/run/vmpod/vm/pod1/agent.sock,server=on,wait=off'],
  },
  { desc: 'console on the first serial port', cfg: base(), flag: '-serial', expect: ['chardev:console'] },
  {
    desc: 'tap netdev without vhost under tcg',
    cfg: base({ network: { ifname: 'tap0_pod1', mac: '02:AB:cd:00:00:01' } }),
    flag: '-netdev',
    expect: ['tap,id=net0,ifname=tap0_pod1,script=no,downscript=no,vhost=off'],
  },
  {
    desc: 'tap netdev with vhost under kvm',
    cfg: base({ accel: 'kvm', network: { ifname: 'tap0', mac: '02:00:00:00:00:01' } }),
    flag: '-netdev',
    expect: ['tap,id=net0,ifname=tap0,script=no,downscript=no,vhost=on'],
  },
  { desc: 'qmp unix socket', cfg: base(), flag: '-qmp', expect: ['unix:/run/vmpod/vm/pod1/qmp.sock,server=on,wait=off'] },
  { desc: 'no display', cfg: base(), flag: '-display', expect: ['none'] },
  { desc: 'no vga', cfg: base(), flag: '-vga', expect: ['none'] },
  { desc: 'sandbox with every restriction', cfg: base(), flag: '-sandbox', expect: ['on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'] },
  {
    desc: "the guest's end (power-off, reboot, panic through shutdown) pauses QEMU so the daemon drains the console ring before it quits",
    cfg: base(),
    flag: '-action',
    expect: ['shutdown=pause', 'panic=shutdown'],
  },
  { desc: 'pidfile in the run dir', cfg: base(), flag: '-pidfile', expect: ['/run/vmpod/vm/pod1/qemu.pid'] },
  { desc: 'qboot firmware by default', cfg: base(), flag: '-bios', expect: ['/usr/share/qemu/qboot.rom'] },
  { desc: 'paths with commas are escaped', cfg: base({ sharedDir: '/a,b' }), flag: '-fsdev', expect: ['local,id=shared,path=/a,,b,security_model=none,multidevs=remap'] },
];

for (const c of cases) {
  t.test(c.desc, async (t) => {
    t.same(values(buildQemuArgs(c.cfg), c.flag), c.expect);
  });
}

t.test('q35 and seabios options', async (t) => {
  const args = buildQemuArgs(base(), { x86: { ...DEFAULT_QEMU_OPTIONS.x86, machine: 'q35', firmware: 'seabios' } });
  t.same(values(args, '-machine'), ['q35,nvdimm=on,mem-merge=off']);
  t.same(values(args, '-bios'), [], 'SeaBIOS is the built-in default: no -bios');
});

const flags: Array<{ desc: string; cfg: VmConfig; present: string[]; absent: string[] }> = [
  { desc: 'always: no defaults, no user config, no reboot; never daemonize', cfg: base(), present: ['-nodefaults', '-no-user-config', '-no-reboot'], absent: ['-daemonize', '-S', '-nographic'] },
  { desc: 'paused VM without a kernel', cfg: base({ boot: undefined, paused: true }), present: ['-S'], absent: ['-kernel', '-append', '-initrd'] },
  { desc: 'no network, rootfs or share when not asked', cfg: base(), present: [], absent: ['-netdev', '-object', '-fsdev'] },
];
for (const c of flags) {
  t.test(c.desc, async (t) => {
    const args = buildQemuArgs(c.cfg);
    for (const f of c.present) t.ok(args.includes(f), `has ${f}`);
    for (const f of c.absent) t.notOk(args.includes(f), `lacks ${f}`);
  });
}

t.test('every flag is followed by a value or is a known switch', async (t) => {
  const switches = new Set(['-nodefaults', '-no-user-config', '-no-reboot', '-S']);
  const args = buildQemuArgs(base({ rootfs: { path: '/r', sizeBytes: 2 * MIB }, sharedDir: '/s', network: { ifname: 't', mac: '02:00:00:00:00:02' } }));
  for (let i = 0; i < args.length; i++) {
    t.ok(args[i].startsWith('-'), `arg ${i} (${args[i]}) is a flag`);
    if (!switches.has(args[i])) i++;
  }
});

t.test('kernelParams and memoryArg are consistent with the argv', async (t) => {
  const cfg = base();
  t.equal(values(buildQemuArgs(cfg), '-append')[0], kernelParams(cfg).join(' '));
  t.equal(values(buildQemuArgs(cfg), '-m')[0], memoryArg(cfg));
});

const invalid: Array<{ desc: string; cfg: VmConfig; field: string }> = [
  { desc: 'vsock without CID', cfg: base({ agent: { transport: 'vsock' } as unknown as VmConfig['agent'] }), field: 'vmConfig.agent.cid' },
  { desc: 'reserved CID 2 (host)', cfg: base({ agent: { transport: 'vsock', cid: 2 } }), field: 'vmConfig.agent.cid' },
  { desc: 'CID 0', cfg: base({ agent: { transport: 'vsock', cid: 0 } }), field: 'vmConfig.agent.cid' },
  { desc: 'CID ANY', cfg: base({ agent: { transport: 'vsock', cid: 0xffffffff } }), field: 'vmConfig.agent.cid' },
  { desc: 'relative agent socket', cfg: base({ agent: { transport: 'serial', socketPath: 'agent.sock' } }), field: 'vmConfig.agent.socketPath' },
  { desc: 'unknown transport', cfg: base({ agent: { transport: 'pigeon' } as unknown as VmConfig['agent'] }), field: 'vmConfig.agent.transport' },
  { desc: 'auto accel not resolved', cfg: base({ accel: 'auto' as unknown as VmConfig['accel'] }), field: 'vmConfig.accel' },
  { desc: 'tb-size of 0', cfg: base({ tcgTbSizeMib: 0 }), field: 'vmConfig.tcgTbSizeMib' },
  { desc: 'tb-size beyond what QEMU accepts', cfg: base({ tcgTbSizeMib: 4096 }), field: 'vmConfig.tcgTbSizeMib' },
  { desc: 'zero vCPUs', cfg: base({ vcpus: 0 }), field: 'vmConfig.vcpus' },
  { desc: 'fractional memory', cfg: base({ memoryMib: 100.5 }), field: 'vmConfig.memoryMib' },
  { desc: 'tiny memory', cfg: base({ memoryMib: 16 }), field: 'vmConfig.memoryMib' },
  { desc: 'rootfs not 2 MiB aligned', cfg: base({ rootfs: { path: '/r', sizeBytes: 3 * MIB } }), field: 'vmConfig.rootfs.sizeBytes' },
  { desc: 'relative rootfs', cfg: base({ rootfs: { path: 'r.img', sizeBytes: 2 * MIB } }), field: 'vmConfig.rootfs.path' },
  { desc: 'relative shared dir', cfg: base({ sharedDir: 'shared' }), field: 'vmConfig.sharedDir' },
  { desc: 'relative volume dir', cfg: base({ sharedDir: '/s', volumeDir: 'share-rw' }), field: 'vmConfig.volumeDir' },
  { desc: 'no kernel and not paused', cfg: base({ boot: undefined }), field: 'vmConfig.boot' },
  { desc: 'kernel param with a space', cfg: base({ boot: { kernel: '/k', params: ['a b'] } }), field: 'vmConfig.boot.params' },
  { desc: 'run dir too long for a socket', cfg: base({ runDir: '/' + 'x'.repeat(110) }), field: 'vmConfig.runDir' },
  { desc: 'bad mac', cfg: base({ network: { ifname: 'tap0', mac: '02:00:00:00:00' } }), field: 'vmConfig.network.mac' },
  { desc: 'multicast mac', cfg: base({ network: { ifname: 'tap0', mac: '01:00:5e:00:00:01' } }), field: 'vmConfig.network.mac' },
  { desc: 'interface name too long', cfg: base({ network: { ifname: 'tap-0123456789abcdef', mac: '02:00:00:00:00:01' } }), field: 'vmConfig.network.ifname' },
  { desc: 'empty id', cfg: base({ id: '' }), field: 'vmConfig.id' },
  { desc: 'relative netns pin', cfg: base({ netnsPath: 'netns/x' }), field: 'vmConfig.netnsPath' },
  { desc: 'guest figures every 0 s (QEMU would read it as never)', cfg: base({ guestStatsIntervalS: 0 }), field: 'vmConfig.guestStatsIntervalS' },
  { desc: 'guest figures at a fractional interval', cfg: base({ guestStatsIntervalS: 2.5 }), field: 'vmConfig.guestStatsIntervalS' },
  { desc: 'a restore without the saved RAM', cfg: base({ restoreFrom: '/s/t.state' }), field: 'vmConfig.restoreFrom' },
  { desc: "a restore writing back into the template's RAM", cfg: base({ restoreFrom: '/s/t.state', memoryFile: { fd: 9, shared: true } }), field: 'vmConfig.restoreFrom' },
  { desc: 'a relative state file', cfg: base({ restoreFrom: 't.state', memoryFile: { fd: 9, shared: false } }), field: 'vmConfig.restoreFrom' },
  { desc: 'a negative RAM fd', cfg: base({ memoryFile: { fd: -1, shared: true } }), field: 'vmConfig.memoryFile.fd' },
  { desc: 'free page reporting into a RAM file (QEMU 7.2 punches holes in it)', cfg: base({ memoryFile: { fd: 9, shared: false }, freePageReporting: true }), field: 'vmConfig.freePageReporting' },
];
for (const c of invalid) {
  t.test(`rejects: ${c.desc}`, async (t) => {
    const err = t.throws(() => buildQemuArgs(c.cfg)) as unknown;
    t.ok(err instanceof InvalidArgumentError, 'InvalidArgumentError');
    t.equal((err as InvalidArgumentError).field, c.field);
  });
}

const merges: Array<{ desc: string; base: string[]; extra: string[]; expect: string[] }> = [
  { desc: 'new keys are appended', base: ['console=ttyS0', 'panic=1'], extra: ['quiet', 'reboot=t'], expect: ['console=ttyS0', 'panic=1', 'quiet', 'reboot=t'] },
  { desc: 'same key replaces vmpod default in place', base: ['console=ttyS0', 'panic=1'], extra: ['panic=5'], expect: ['console=ttyS0', 'panic=5'] },
  { desc: 'identical param is not repeated', base: ['console=ttyS0', 'panic=1'], extra: ['console=ttyS0', 'panic=1', 'x'], expect: ['console=ttyS0', 'panic=1', 'x'] },
  { desc: 'repeated keys within extra are kept', base: ['panic=1'], extra: ['console=tty0', 'console=ttyS0'], expect: ['panic=1', 'console=tty0', 'console=ttyS0'] },
];
for (const c of merges) {
  t.test(`mergeParams: ${c.desc}`, async (t) => {
    t.same(mergeParams(c.base, c.extra), c.expect);
  });
}

t.test('resizable: a virtio-mem device spans the hotplug headroom, plugged empty', async (t) => {
  const devices = values(buildQemuArgs(base({ resize: { maxVcpus: 1 }, hotplugMemoryMib: 256 })), '-device');
  t.same(
    devices.filter((d) => d.startsWith('virtio-mem')),
    ['virtio-mem-pci,id=vmem0,memdev=vmem0-ram,requested-size=0'],
  );
  t.same(
    values(buildQemuArgs(base()), '-device').filter((d) => d.startsWith('virtio-mem')),
    [],
    'none without resize',
  );
});
