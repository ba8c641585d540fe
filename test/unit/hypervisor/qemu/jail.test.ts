import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JAIL_SCRIPT, jailArgv, jailDirs, jailHelperPath, jailHostFacts, jailPlan, jailRoot, type JailHostFacts } from '../../../../src/hypervisor/qemu/jail';
import type { VmConfig } from '../../../../src/hypervisor/vm-config';

const merged: JailHostFacts = {
  links: { '/bin': 'usr/bin', '/sbin': 'usr/sbin', '/lib': 'usr/lib', '/lib64': 'usr/lib64' },
  devices: ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/kvm', '/dev/net/tun', '/dev/vhost-net', '/dev/vhost-vsock'],
};

function cfg(over: Partial<VmConfig> = {}): VmConfig {
  return {
    id: 'p',
    runDir: '/run/vmpod/s/abc',
    accel: 'tcg',
    vcpus: 1,
    memoryMib: 128,
    boot: { kernel: '/g/vmlinux', initrd: '/g/initramfs' },
    rootfs: { path: '/g/rootfs.img', sizeBytes: 2 << 20 },
    sharedDir: '/state/sandboxes/p/shared',
    volumeDir: '/state/sandboxes/p/share-rw',
    agent: { transport: 'serial', socketPath: '/run/vmpod/s/abc/agent.sock' },
    ...over,
  };
}

t.test('TCG, serial agent, no NIC: /usr, its links, the image, the run dir, both shares, four char devices', async (t) => {
  t.same(jailPlan(cfg(), merged), [
    { kind: 'ro', path: '/usr' },
    { kind: 'link', path: '/bin', target: 'usr/bin' },
    { kind: 'link', path: '/sbin', target: 'usr/sbin' },
    { kind: 'link', path: '/lib', target: 'usr/lib' },
    { kind: 'link', path: '/lib64', target: 'usr/lib64' },
    { kind: 'ro', path: '/g/vmlinux' },
    { kind: 'ro', path: '/g/initramfs' },
    { kind: 'ro', path: '/g/rootfs.img' },
    { kind: 'rw', path: '/run/vmpod/s/abc' },
    { kind: 'tree', path: '/state/sandboxes/p/shared' },
    { kind: 'tree', path: '/state/sandboxes/p/share-rw' },
    { kind: 'dev', path: '/dev/null' },
    { kind: 'dev', path: '/dev/zero' },
    { kind: 'dev', path: '/dev/urandom' },
    { kind: 'dev', path: '/dev/random' },
  ]);
});

t.test('devices follow what the VM uses, and only those the host has', async (t) => {
  const devs = (c: VmConfig, f = merged) =>
    jailPlan(c, f)
      .filter((e) => e.kind === 'dev')
      .map((e) => e.path);
  const kvmNet = cfg({ accel: 'kvm', network: { ifname: 'tap0', mac: '02:00:00:00:00:01' }, agent: { transport: 'vsock', cid: 3 } });
  t.same(devs(kvmNet), ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/kvm', '/dev/net/tun', '/dev/vhost-net', '/dev/vhost-vsock']);
  t.same(devs(cfg({ network: { ifname: 'tap0', mac: '02:00:00:00:00:01' } })), ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/net/tun'], 'TCG: a tap, no vhost-net');
  t.same(devs(kvmNet, { links: {}, devices: ['/dev/null', '/dev/kvm'] }), ['/dev/null', '/dev/kvm'], 'a device the host lacks is not bound');
  t.same(
    devs(cfg({ netnsPath: '/s/microvm-pool/vm/netns/vmpool-1' })),
    ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/net/tun'],
    'a VM in a netns of its own without a NIC yet (a pool VM) may open a tap hot-plugged later',
  );
  t.same(
    devs(cfg({ accel: 'kvm', netnsPath: '/s/microvm-pool/vm/netns/vmpool-1' })),
    ['/dev/null', '/dev/zero', '/dev/urandom', '/dev/random', '/dev/kvm', '/dev/net/tun', '/dev/vhost-net'],
    'under kvm a hot-plugged NIC is vhost-net backed, so a pool VM gets /dev/vhost-net as a cold pod VM does (review: without it every hand-out failed on kvm)',
  );
});

t.test('no other pod, no /etc, no state dir beyond the pod shares', async (t) => {
  const paths = jailPlan(cfg({ accel: 'kvm', network: { ifname: 't', mac: '02:00:00:00:00:01' } }), merged).map((e) => e.path);
  t.notOk(
    paths.some((p) => p.startsWith('/etc') || p === '/' || p === '/state' || p === '/state/sandboxes' || p === '/state/sandboxes/p' || p.startsWith('/root') || p.startsWith('/home')),
    'none of these',
  );
  t.same(jailDirs(jailPlan(cfg(), merged)), ['/', '/dev', '/g', '/run/vmpod/s', '/state/sandboxes/p'], 'the parents the tmpfs gets');
});

t.test('a host without merged /usr binds /bin, /lib, /lib64; a QEMU outside /usr is bound', async (t) => {
  const plan = jailPlan(cfg(), { links: {}, devices: [] }, '/opt/qemu/bin/qemu-system-x86_64');
  t.same(
    plan.filter((e) => e.kind === 'ro' && !e.path.startsWith('/g/')),
    [
      { kind: 'ro', path: '/usr' },
      { kind: 'ro', path: '/opt/qemu/bin/qemu-system-x86_64' },
      { kind: 'ro', path: '/bin' },
      { kind: 'ro', path: '/lib' },
      { kind: 'ro', path: '/lib64' },
    ],
  );
  t.notOk(
    jailPlan(cfg(), merged, '/usr/bin/qemu-system-x86_64').some((e) => e.path === '/usr/bin/qemu-system-x86_64'),
    'one under /usr comes with /usr',
  );
});

t.test('argv: unshare a slave mount namespace, the script with the root and the plan, then --', async (t) => {
  const plan = jailPlan(cfg({ volumeDir: undefined, boot: undefined, rootfs: undefined }), { links: { '/lib': 'usr/lib' }, devices: ['/dev/null'] });
  t.equal(jailRoot('/run/vmpod/s/abc'), '/run/vmpod/s/abc/jail');
  t.same(jailArgv(plan, '/run/vmpod/s/abc/jail'), [
    'unshare',
    '--mount',
    '--propagation',
    'slave',
    '--',
    'sh',
    '-c',
    JAIL_SCRIPT,
    'vmpod-jail',
    '/run/vmpod/s/abc/jail',
    'ro',
    '/usr',
    'link',
    '/lib',
    'usr/lib',
    'ro',
    '/bin',
    'ro',
    '/lib64',
    'rw',
    '/run/vmpod/s/abc',
    'tree',
    '/state/sandboxes/p/shared',
    'dev',
    '/dev/null',
    '--',
  ]);
});

t.test('the script is valid sh and pivots before it execs (checked without running it)', async (t) => {
  t.doesNotThrow(() => execFileSync('sh', ['-n', '-c', JAIL_SCRIPT]), 'sh -n parses it');
  const lines = JAIL_SCRIPT.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  t.ok(at(/^set -e$/) === 0, 'any failure ends it');
  t.ok(at(/pivot_root/) < at(/umount -l \/\.old/) && at(/umount -l \/\.old/) < at(/^exec "\$@"$/), 'old root detached before QEMU runs');
  t.match(JAIL_SCRIPT, /mount -t proc -o nosuid,nodev,noexec,hidepid=invisible,subset=pid proc/, "QEMU's proc shows its own process only, and nothing system-wide");
  t.match(JAIL_SCRIPT, /mount -t tmpfs -o mode=0755,nosuid,nodev,size=1m/, 'the root is a small nosuid,nodev tmpfs');
});

t.test('argv with vmpod-jail: the helper, the root and the same plan, then --', async (t) => {
  const plan = jailPlan(cfg({ volumeDir: undefined, boot: undefined, rootfs: undefined }), { links: { '/lib': 'usr/lib' }, devices: ['/dev/null'] });
  const script = jailArgv(plan, '/run/vmpod/s/abc/jail');
  t.same(
    jailArgv(plan, '/run/vmpod/s/abc/jail', { helper: '/opt/vmpod/native/infra/build/vmpod-jail' }),
    ['/opt/vmpod/native/infra/build/vmpod-jail', ...script.slice(script.indexOf('/run/vmpod/s/abc/jail'))],
    "the script's arguments after the helper",
  );
});

// Real mounts (the unit tests run as root): the helper and the script build
// the same jail, mount for mount, flag for flag, from one plan.
t.test('vmpod-jail builds the jail the script builds', async (t) => {
  const helper = jailHelperPath();
  if (!existsSync(helper)) {
    t.fail(`missing component: ${helper} (native/infra/build.sh builds it)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-jail-'));
  t.teardown(() => {
    execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l`]);
    rmSync(dir, { recursive: true, force: true });
  });
  const run = join(dir, 'run');
  const shared = join(dir, 'shared');
  const kernel = join(dir, 'vmlinux');
  for (const d of [run, join(shared, 'sub')]) mkdirSync(d, { recursive: true });
  writeFileSync(kernel, 'k');
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(shared, 'sub')]);
  const facts = jailHostFacts();
  const plan = jailPlan(cfg({ runDir: run, sharedDir: shared, volumeDir: undefined, boot: { kernel }, rootfs: undefined }), facts);
  // Inside: every mount with its per-mount options, what / holds, and who we are.
  const inside = ['/usr/bin/sh', '-c', 'cut -d" " -f5,6 /proc/self/mountinfo; ls -A /; readlink /bin; id -u'];
  const built = (argv: string[], root: string): string =>
    execFileSync(argv[0], [...argv.slice(1), ...inside], { encoding: 'utf8' })
      .split(root)
      .join('ROOT');
  const byScript = built(jailArgv(plan, join(run, 'jail-a')), join(run, 'jail-a'));
  const byHelper = built(jailArgv(plan, join(run, 'jail-b'), { helper }), join(run, 'jail-b'));
  t.equal(byHelper, byScript, 'the same mounts, flags, root entries and links');
  t.match(byHelper, /^\/ ro,nosuid,nodev/m, 'the root is read-only, nosuid, nodev');
  t.match(byHelper, new RegExp(`^${kernel} ro,nosuid,nodev`, 'm'), 'an ro entry is read-only, nosuid, nodev');
  t.match(byHelper, new RegExp(`^${shared}/sub `, 'm'), 'a tree comes with what is mounted below it');
  t.notMatch(byHelper, /^\/etc /m, 'nothing of the host beyond the plan');
  const bad = spawnSync(helper, [join(run, 'jail-c'), 'ro', join(dir, 'no-such-file'), '--', 'true'], { encoding: 'utf8' });
  t.equal(bad.status, 125, 'a failed step ends it with 125');
  t.match(bad.stderr, /vmpod-jail: bind .*no-such-file: No such file or directory/, 'naming the step and the path');
  t.equal(spawnSync(helper, [join(run, 'jail-d'), 'bogus', '/usr', '--', 'true']).status, 125, 'an unknown entry kind is refused');
});
