// Hot-plug against real QEMU under TCG (machine pc, as the command-line
// builder sets it): a prepared VM (vCPUs not started, no guest kernel)
// takes a NIC (tap opened by name in QEMU's netns), a read-only disk and a
// serial port, and QEMU shows them (query-pci, qom-list, its fds); a
// restarted daemon finds them in the device record. Without a guest only
// the serial port can leave: a PCI device leaves when the guest ejects it
// over ACPI, which the booted-guest case checks with the built guest image.
// A tap fd travels over the QMP socket (SCM_RIGHTS + getfd), and a
// vhost-vsock device fails cleanly on this host, which lacks
// /dev/vhost-vsock.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeadlineExceededError } from '../../common/errors';
import { findGuestImage, guestPartPath } from '../../src/host/guest-image';
import { DeviceHotplugError, type VmConfig, type VmDevice, type VmHandle } from '../../src/hypervisor';
import { QemuHypervisor } from '../../src/hypervisor/qemu';
import { readLaunchRecord } from '../../src/hypervisor/qemu/launch';
import { QmpClient } from '../../src/hypervisor/qemu/qmp';
import { QEMU, qemuWorkspace, requireQemuComponents } from './qemu-fixtures';

requireQemuComponents(t);
const { work, netns, vms } = qemuWorkspace(t, 'vmpod-hp-it-');
execFileSync('ip', ['netns', 'add', netns]);
const netnsPath = `/run/netns/${netns}`;

const hv = new QemuHypervisor({ qemuBinary: QEMU, qmpTimeoutMs: 20_000 });

function config(name: string, over: Partial<VmConfig> = {}): VmConfig {
  const runDir = join(work, name);
  return { id: name, runDir, accel: 'tcg', vcpus: 1, memoryMib: 128, netnsPath, agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') }, ...over };
}

async function prepare(c: VmConfig): Promise<VmHandle> {
  const vm = await hv.prepare(c);
  vms.push(vm);
  return vm;
}

/** What a process holds open: fd target, and for a tun fd the interface it is attached to (fdinfo `iff:`). */
function openFds(pid: number): Array<{ target: string; iff?: string; flags: number }> {
  const out = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      out.push({ target, iff: /^iff:\s+(\S+)/m.exec(info)?.[1], flags: parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? '0', 8) });
    } catch {
      /* closed meanwhile (for ourselves: the fd that lists /proc/self/fd) */
    }
  }
  return out;
}

/** Query QEMU with our own QMP client, the VM's handle detached (the QMP socket serves one client); a fresh handle is returned. */
async function inspect(vm: VmHandle, runDir: string): Promise<{ pci: string[]; peripheral: string[]; again: VmHandle }> {
  vm.detach();
  const qmp = await QmpClient.connect(readLaunchRecord(runDir).qmpSocket);
  type PciDev = { qdev_id: string; pci_bridge?: { devices: PciDev[] } };
  const buses = await qmp.execute<Array<{ devices: PciDev[] }>>('query-pci');
  const pci: string[] = [];
  const walk = (ds: PciDev[]): void => {
    for (const d of ds) {
      if (d.qdev_id) pci.push(d.qdev_id);
      if (d.pci_bridge) walk(d.pci_bridge.devices);
    }
  };
  for (const b of buses) walk(b.devices);
  const peripheral = (await qmp.execute<Array<{ name: string }>>('qom-list', { path: '/machine/peripheral' })).map((p) => p.name).filter((n) => n !== 'type');
  qmp.close();
  const again = await hv.reconnect(runDir);
  if (!again) throw new Error('VM gone');
  vms.push(again);
  return { pci, peripheral, again };
}

t.test('a prepared VM takes a NIC, a disk and a serial port; QEMU shows them; a restarted daemon knows them', async (t) => {
  execFileSync('ip', ['-n', netns, 'tuntap', 'add', 'dev', 'tap1', 'mode', 'tap']);
  const disk = join(work, 'disk.raw');
  writeFileSync(disk, '');
  truncateSync(disk, 1024 * 1024);
  const cfg = config('a');
  const t0 = Date.now();
  const vm = await prepare(cfg);
  t.comment(`prepare: ${Date.now() - t0} ms to a paused VM with QMP connected`);
  t.equal(await vm.status(), 'paused', 'prepared: vCPUs not started');
  t.ok(existsSync(join(cfg.runDir, 'vm.json')), 'launch record persisted before any device is added');

  const devices: VmDevice[] = [
    { kind: 'net', id: 'eth1', mac: '02:00:00:00:01:01', tap: { ifname: 'tap1' } },
    { kind: 'block', id: 'disk0', path: disk, format: 'raw', readOnly: true },
    { kind: 'serial-port', id: 'agent1', socketPath: join(cfg.runDir, 'agent1.sock'), name: 'vmpod.agent1' },
  ];
  for (const d of devices) {
    const t1 = Date.now();
    await vm.addDevice(d);
    t.comment(`addDevice ${d.kind}: ${Date.now() - t1} ms`);
  }
  const fds = openFds(vm.pid);
  t.ok(
    fds.some((f) => f.iff === 'tap1'),
    'QEMU holds a tun fd attached to tap1 of its netns',
  );
  const img = fds.find((f) => f.target === disk);
  t.ok(img && (img.flags & 3) === 0, 'QEMU opened the disk image O_RDONLY');
  t.ok(statSync(join(cfg.runDir, 'agent1.sock')).isSocket(), "the serial port's socket listens");
  t.equal(await vm.status(), 'paused', 'still paused: devices go in before start');

  const { pci, peripheral, again } = await inspect(vm, cfg.runDir);
  t.same(pci.filter((id) => ['eth1', 'disk0'].includes(id)).sort(), ['disk0', 'eth1'], `query-pci shows the NIC and the disk (${pci.join(', ')})`);
  t.same(peripheral.filter((n) => n !== 'ser0').sort(), ['agent1', 'disk0', 'eth1'], 'qom-list /machine/peripheral shows all three');
  t.same(again.devices(), devices, 'the reconnected handle knows the devices from the record');

  await again.removeDevice('agent1');
  t.notOk(existsSync(join(cfg.runDir, 'agent1.sock')), 'serial port removed without a guest: its chardev and socket are gone');
  const err = await again.removeDevice('eth1', { timeoutMs: 1500 }).catch((e: unknown) => e);
  t.ok(err instanceof DeadlineExceededError, `a PCI NIC does not leave a guest that never ran (no ACPI eject): ${(err as Error).message}`);
  t.same(
    again.devices().map((d) => d.id),
    ['eth1', 'disk0'],
    'a removal that did not complete keeps the device recorded',
  );

  await again.start();
  t.equal(await again.status(), 'running', 'start: cont');
  await again.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 5000 });
  await hv.destroy(cfg.runDir);
});

t.test('a tap fd reaches QEMU over the QMP socket (SCM_RIGHTS + getfd)', async (t) => {
  const cfg = config('f');
  const vm = await prepare(cfg);
  // A regular file stands in for a tap fd (opening a tap needs TUNSETIFF, which
  // Node cannot issue): QEMU receives it, then refuses it as a tap.
  const marker = join(work, 'fd-marker');
  writeFileSync(marker, '');
  const fd = openSync(marker, 'r');
  const err = await vm.addDevice({ kind: 'net', id: 'eth2', mac: '02:00:00:00:01:02', tap: { fd } }).catch((e: unknown) => e);
  t.ok(err instanceof DeviceHotplugError, 'refused as a hot-plug error');
  t.equal((err as DeviceHotplugError).step, 'netdev_add', 'getfd went through; QEMU refused the fd as a tap');
  t.match((err as Error).message, /TUNGETIFF/, 'QEMU looked at the descriptor it received');
  t.notOk(
    openFds(vm.pid).some((f) => f.target === marker),
    'QEMU does not keep the descriptor of a failed hot-plug',
  );
  t.notOk(
    openFds(process.pid).some((f) => f.target === marker),
    'our copy is closed',
  );
  t.same(vm.devices(), [], 'nothing recorded');

  // The raw step: getfd hands the descriptor over, closefd releases it.
  const { again } = await inspect(vm, cfg.runDir);
  again.detach();
  const qmp = await QmpClient.connect(readLaunchRecord(cfg.runDir).qmpSocket);
  t.teardown(() => qmp.close());
  await qmp.executeWithFd('getfd', { fdname: 'probe' }, openSync(marker, 'r'));
  t.ok(
    openFds(again.pid).some((f) => f.target === marker),
    'after getfd QEMU holds the file',
  );
  await qmp.execute('closefd', { fdname: 'probe' });
  t.notOk(
    openFds(again.pid).some((f) => f.target === marker),
    'after closefd it does not',
  );
  qmp.close();
  await hv.destroy(cfg.runDir);
});

t.test(
  'vhost-vsock without /dev/vhost-vsock fails cleanly and leaves the VM as it was',
  { skip: existsSync('/dev/vhost-vsock') ? 'this host has /dev/vhost-vsock: the device would be created' : false },
  async (t) => {
    const cfg = config('v');
    const vm = await prepare(cfg);
    const err = await vm.addDevice({ kind: 'vsock', id: 'vsock1', cid: 4_000_000 }).catch((e: unknown) => e);
    t.ok(err instanceof DeviceHotplugError, 'DeviceHotplugError');
    t.match((err as Error).message, /device_add failed: .*vhost-vsock/, "QEMU's reason is in the message");
    t.equal(await vm.status(), 'paused', 'the VM is unharmed');
    const { peripheral } = await inspect(vm, cfg.runDir);
    t.notOk(peripheral.includes('vsock1'), 'no half-made device');
    await hv.destroy(cfg.runDir);
  },
);

const found = findGuestImage(process.env.VMPOD_GUEST_DIR);
if ('missing' in found) {
  t.fail(`the booted-guest hot-plug case cannot run: guest image not built (${found.missing})`);
} else {
  t.test('a booted guest sees a hot-plugged NIC and disk and ejects them on removal (pc, ACPI hot-plug)', async (t) => {
    execFileSync('ip', ['-n', netns, 'tuntap', 'add', 'dev', 'tap2', 'mode', 'tap']);
    const shared = join(work, 'g-shared');
    mkdirSync(shared, { recursive: true });
    const disk = join(work, 'g-disk.raw');
    writeFileSync(disk, '');
    truncateSync(disk, 1024 * 1024);
    const cfg = config('g', {
      memoryMib: 512,
      boot: { kernel: guestPartPath(found, 'vmlinux'), initrd: guestPartPath(found, 'initramfs'), params: found.manifest.kernel.cmdline.split(/\s+/).filter(Boolean) },
      rootfs: { path: guestPartPath(found, 'rootfs'), sizeBytes: found.manifest.parts.rootfs.size },
      sharedDir: shared,
    });
    const vm = await hv.start(cfg);
    vms.push(vm);
    const consoleHas = async (re: RegExp, ms: number): Promise<boolean> => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) if (re.test(vm.consoleTail(256 * 1024))) return true;
      return false;
    };
    // The initramfs runs once the kernel (ACPI, PCI, acpiphp) is up.
    t.ok(await consoleHas(/vmpod-init: start/, 120_000), 'the guest reached its init');
    await vm.addDevice({ kind: 'net', id: 'eth1', mac: '02:00:00:00:02:01', tap: { ifname: 'tap2' } });
    await vm.addDevice({ kind: 'block', id: 'disk0', path: disk, format: 'raw', readOnly: true });
    t.ok(await consoleHas(/\[1af4:1000\]/, 30_000), 'the guest kernel found the virtio-net device (1af4:1000)');
    t.ok(await consoleHas(/\[1af4:1001\]/, 30_000), 'and the virtio-blk device (1af4:1001)');
    const t1 = Date.now();
    await vm.removeDevice('eth1', { timeoutMs: 60_000 });
    await vm.removeDevice('disk0', { timeoutMs: 60_000 });
    t.comment(`both ejected by the guest in ${Date.now() - t1} ms`);
    t.same(vm.devices(), [], 'both removed');
    t.notOk(
      openFds(vm.pid).some((f) => f.iff === 'tap2' || f.target === disk),
      'QEMU let go of the tap and the image',
    );
    const t2 = process.hrtime.bigint();
    const stats = vm.hostStats();
    for (let i = 0; i < 19; i++) vm.hostStats();
    t.comment(`hostStats(): ${(Number(process.hrtime.bigint() - t2) / 20 / 1e6).toFixed(2)} ms per call, the guest booted`);
    t.ok(stats && stats.cpuNs > 0 && stats.pssBytes > 0 && stats.minorFaults > 0, `host cost readable (${JSON.stringify(stats)})`);
    await vm.stop({ gracefulTimeoutMs: 0, quitTimeoutMs: 5000 });
    await hv.destroy(cfg.runDir);
  });
}
