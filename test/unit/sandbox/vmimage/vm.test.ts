import t from 'tap';
import type { VmExit } from '../../../../src/hypervisor';
import type { VmImageContainerData, VmImagePodData } from '../../../../src/sandbox/vmimage/data';
import { containerRunPaths } from '../../../../src/sandbox/vmimage/layout';
import { exitState, vmImageVmConfig } from '../../../../src/sandbox/vmimage/vm';

const pod: VmImagePodData = {
  v: 1,
  netnsPath: '/run/netns/p1',
  network: { tapName: 'tap0_vmpod', mac: '0a:58:0a:58:00:05', mtu: 1500, addresses: [{ family: 4, address: '10.88.0.5', prefixLen: 16 }], routes: [] },
  qemuUid: 1_900_000_007,
  accel: 'tcg',
  vcpus: 1,
  memoryMib: 1024,
};
const container: VmImageContainerData = {
  v: 1,
  image: 'reg/debian:12',
  disk: { path: '/var/lib/vmpod/rootfs/c1/disk/debian.qcow2', name: 'debian.qcow2', format: 'qcow2', virtualSize: 2 ** 31 },
  overlay: '/state/vm-image/p1/overlay.qcow2',
  overlayPlan: 'create',
  firmware: 'seabios',
  machine: 'pc',
  vcpus: 2,
  memoryMib: 1536,
  userDataFrom: 'default',
  devices: [{ serial: 'xvdb', hostPath: '/dev/loop7', containerPath: '/dev/xvdb', readOnly: true }],
  shares: [{ tag: 'vmpod:m2', hostPath: '/var/lib/kubelet/v/cfg', containerPath: '/etc/app', readOnly: true }],
};

t.test('the VM: overlay over the image disk as boot disk, cidata read-only, socket console, guest agent port, tap, jail', async (t) => {
  const run = containerRunPaths('/state', 'c1');
  const cfg = vmImageVmConfig({
    containerId: 'c1',
    run,
    pod,
    container,
    overlay: '/state/vm-image/p1/overlay.qcow2',
    cidata: '/state/vm-image/p1/cidata.iso',
    tcgTbSizeMib: 256,
    placement: { cgroupProcs: ['/sys/fs/cgroup/vmpod/vmpod-p1/vmm/cgroup.procs'], oomScoreAdj: 500 },
  });
  t.same(cfg.disks, [
    { id: 'root', path: '/state/vm-image/p1/overlay.qcow2', format: 'qcow2', readOnly: false, backing: { path: container.disk.path, format: 'qcow2' }, bootIndex: 0 },
    { id: 'cidata', path: '/state/vm-image/p1/cidata.iso', format: 'raw', readOnly: true },
    { id: 'xvdb', path: '/dev/loop7', format: 'raw', readOnly: true },
  ]);
  t.same(cfg.console, { kind: 'socket', socketPath: `${run.dir}/console.sock` });
  t.same(cfg.shares, [{ tag: 'vmpod:m2', path: '/var/lib/kubelet/v/cfg', readOnly: true }], 'CRI directory mounts as 9p shares');
  t.equal(cfg.guestAgentSocket, `${run.dir}/qga.sock`);
  t.same(cfg.network, { ifname: 'tap0_vmpod', mac: '0a:58:0a:58:00:05' }, "the guest NIC has the pod network's MAC");
  t.same(cfg.jail, { uid: 1_900_000_007, gid: 1_900_000_007 });
  t.equal(cfg.agent, undefined, 'no vmpod agent');
  t.equal(cfg.boot, undefined, 'the firmware boots the disk');
  t.equal(cfg.guestStatsIntervalS, 5, "a balloon brings the guest's memory figures (the container's memory stats)");
  t.equal(cfg.freePageReporting, true, 'and gives the RAM the guest frees back to the host');
  t.same([cfg.vcpus, cfg.memoryMib, cfg.tcgTbSizeMib, cfg.firmware, cfg.machine, cfg.netnsPath], [2, 1536, 256, 'seabios', 'pc', '/run/netns/p1']);
  const kvm = vmImageVmConfig({ containerId: 'c1', run, pod: { ...pod, accel: 'kvm' }, container, overlay: 'o', cidata: 'c', tcgTbSizeMib: 256, placement: { cgroupProcs: [] } });
  t.equal(kvm.tcgTbSizeMib, undefined, 'no TCG buffer bound under kvm');
  t.ok(run.dir.length + '/console.sock'.length < 108, 'the console socket path fits a unix socket address');
});

t.test('how the VM ended becomes the container exit', async (t) => {
  const at = new Date(1_700_000_000_000);
  const ex = (reason: VmExit['reason'], o: Partial<VmExit> = {}): VmExit => ({ reason, exitCode: 0, signal: null, at, ...o });
  t.same(exitState(ex('guest-shutdown')), { state: 'exited', exitCode: 0, finishedAt: '1700000000000000000', oomKilled: false, message: 'guest powered off' });
  const cases: [VmExit, number, RegExp][] = [
    [ex('guest-panicked'), 1, /guest kernel panicked/],
    [ex('guest-reset'), 2, /reset/],
    [ex('killed', { exitCode: null, signal: 'SIGKILL' }), 137, /QEMU was killed \(QEMU SIGKILL\)/],
    [ex('host-quit'), 143, /told to quit/],
    [ex('unknown', { exitCode: null }), 255, /not watching/],
  ];
  for (const [e, code, msg] of cases) {
    const s = exitState(e);
    t.equal(s.exitCode, code, `${e.reason}: exit code ${code}`);
    t.match(s.message, msg, `${e.reason}: says why`);
  }
});
