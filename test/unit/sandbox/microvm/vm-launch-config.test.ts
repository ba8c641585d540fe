// podVmConfig: a pool VM is launched as a cold pod VM is, but for what only
// the pod can give (its NIC and netns) and where it sits (cgroup, OOM score).

import t from 'tap';
import type { GuestImage } from '../../../../src/host/guest-image';
import { podVmConfig, type PodVmLaunch } from '../../../../src/sandbox/microvm/vm-launch-config';

const guest = {
  dir: '/guest',
  hash: 'h',
  why: 'test',
  manifest: {
    kernel: { cmdline: 'console=ttyS0 panic=1 quiet swiotlb=noforce' },
    parts: { vmlinux: { file: 'vmlinux' }, initramfs: { file: 'initramfs' }, rootfs: { file: 'rootfs.img', size: 4096 } },
  },
} as unknown as GuestImage;

const launch = (accel: 'tcg' | 'kvm', over: Partial<PodVmLaunch> = {}): PodVmLaunch => ({
  id: 'p',
  runDir: '/run/p',
  host: { accel, transport: 'serial', guest },
  microvm: { tcg_tb_size_mib: 256, free_page_reporting: true, memory_merge: false },
  size: { vcpus: 1, memoryMib: 512 },
  sharedDir: '/s',
  volumeDir: '/v',
  placement: { cgroupProcs: ['/cg/cgroup.procs'], oomScoreAdj: 0 },
  uid: 1900000000,
  ...over,
});

t.test('the guest image, shares, size and jail come from the launch', async (t) => {
  const c = podVmConfig(launch('tcg'), { transport: 'serial', socketPath: '/run/p/agent.sock' });
  t.same(c.boot, { kernel: '/guest/vmlinux', initrd: '/guest/initramfs', params: ['quiet', 'swiotlb=noforce'] }, "console= and panic= are the hypervisor's");
  t.same(c.rootfs, { path: '/guest/rootfs.img', sizeBytes: 4096 });
  t.equal(c.tcgTbSizeMib, 256);
  t.equal(c.freePageReporting, true);
  t.equal(c.memoryMerge, false, "the handler's memory_merge, off by default");
  t.equal(
    podVmConfig(launch('tcg', { microvm: { tcg_tb_size_mib: 256, free_page_reporting: true, memory_merge: true } }), { transport: 'serial', socketPath: '/a' }).memoryMerge,
    true,
    'and on when the handler opts in',
  );
  t.same(c.jail, { uid: 1900000000, gid: 1900000000 });
  t.same(c.agent, { transport: 'serial', socketPath: '/run/p/agent.sock' });
  t.notOk('network' in c, 'no NIC unless given');
  t.ok(c.resize && c.resize.maxVcpus >= 1);
});

t.test('the TCG buffer bound is TCG-only; vsock endpoints name their CID', async (t) => {
  const c = podVmConfig(launch('kvm'), { transport: 'vsock', cid: 7 });
  t.notOk('tcgTbSizeMib' in c);
  t.same(c.agent, { transport: 'vsock', cid: 7 });
  t.notOk('jail' in podVmConfig(launch('tcg', { uid: undefined }), { transport: 'vsock', cid: 7 }));
});

t.test('a pool VM differs from a cold pod VM only in its NIC, netns and placement', async (t) => {
  const ep = { transport: 'serial' as const, socketPath: '/run/p/agent.sock' };
  const cold = podVmConfig(launch('tcg', { network: { ifname: 'tap0', mac: '02:00:00:00:00:01' }, netnsPath: '/var/run/netns/pod' }), ep);
  const pool = podVmConfig(launch('tcg', { netnsPath: '/root/netns/pool', placement: { cgroupProcs: ['/pool/cgroup.procs'], oomScoreAdj: 0 } }), ep);
  const strip = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).filter(([k]) => !['network', 'netnsPath', 'placement'].includes(k)));
  t.same(strip(pool as unknown as Record<string, unknown>), strip(cold as unknown as Record<string, unknown>));
  t.same(cold.network, { ifname: 'tap0', mac: '02:00:00:00:00:01' });
  t.equal(pool.netnsPath, '/root/netns/pool');
});
