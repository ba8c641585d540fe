import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { launchArgv, launchQemu, PLACE_SCRIPT, placementArgv, readLaunchRecord } from '../../../../src/hypervisor/qemu/launch';
import { processStartTime } from '../../../../src/hypervisor/qemu/proc';
import type { VmConfig } from '../../../../src/hypervisor/vm-config';
import { InternalError, NotFoundError } from '../../../../common/errors';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-launch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cfg(runDir: string, over: Partial<VmConfig> = {}): VmConfig {
  return { id: 'p', runDir, accel: 'tcg', vcpus: 1, memoryMib: 128, paused: true, agent: { transport: 'serial', socketPath: join(runDir, 'agent.sock') }, ...over };
}

t.test('argv runs QEMU under setpriv, and that through nsenter into the pinned netns', async (t) => {
  const setpriv = ['setpriv', '--bounding-set=-all,+chown,+dac_override,+dac_read_search,+fowner,+fsetid', '--inh-caps=-all', '--ambient-caps=-all', '--'];
  const plain = launchArgv(cfg('/r'), { qemuBinary: '/usr/bin/qemu-system-x86_64' });
  t.same(plain.slice(0, 6), [...setpriv, '/usr/bin/qemu-system-x86_64'], 'capabilities bounded, then QEMU');
  const ns = launchArgv(cfg('/r', { netnsPath: '/run/netns/vmpod-p' }), { qemuBinary: '/usr/bin/qemu-system-x86_64' });
  t.same(ns.slice(0, 9), ['nsenter', '--net=/run/netns/vmpod-p', '--', ...setpriv, '/usr/bin/qemu-system-x86_64'], 'the netns is entered before the capabilities go');
  t.same(ns.slice(9), plain.slice(6), 'same QEMU args either way');
});

t.test('launch record: missing is NotFoundError, garbage and wrong shape are InternalError', async (t) => {
  const dir = tmp(t);
  t.throws(() => readLaunchRecord(dir), NotFoundError);
  writeFileSync(join(dir, 'vm.json'), '{not json');
  t.throws(() => readLaunchRecord(dir), InternalError);
  writeFileSync(join(dir, 'vm.json'), JSON.stringify({ version: 99, pid: 1 }));
  t.throws(() => readLaunchRecord(dir), InternalError);
});

t.test('process start time: ours is known, a free PID has none', async (t) => {
  t.type(processStartTime(process.pid), 'string');
  t.equal(processStartTime(2 ** 22 + 12345), undefined);
});

t.test('a missing QEMU binary fails qemu-start with a typed error', async (t) => {
  const dir = tmp(t);
  const err = await launchQemu(cfg(dir), { qemuBinary: join(dir, 'no-such-qemu'), qmpTimeoutMs: 3000 }).catch((e: unknown) => e);
  t.ok(err instanceof InternalError, 'InternalError');
  t.match((err as Error).message, /qemu-start/);
});

t.test('placement: a shell joins the cgroup and sets the OOM score, then execs nsenter, setpriv, QEMU', async (t) => {
  const placement = { cgroupProcs: ['/sys/fs/cgroup/cpu/x/vmm/cgroup.procs', '/sys/fs/cgroup/memory/x/vmm/cgroup.procs'], oomScoreAdj: 500 };
  t.same(placementArgv(undefined), [], 'nothing to place: no wrapper');
  t.same(placementArgv({ cgroupProcs: [] }), [], 'empty placement: no wrapper');
  const argv = launchArgv(cfg('/r', { netnsPath: '/run/netns/n', placement }), { qemuBinary: 'qemu' });
  t.same(
    argv.slice(0, 12),
    ['sh', '-c', PLACE_SCRIPT, 'vmpod-place', placement.cgroupProcs[0], '0', placement.cgroupProcs[1], '0', '/proc/self/oom_score_adj', '500', '--', 'nsenter'],
    'file/value pairs, then the rest',
  );
  t.same(argv.slice(11), launchArgv(cfg('/r', { netnsPath: '/run/netns/n' }), { qemuBinary: 'qemu' }), 'the rest is the unplaced argv');
});

t.test('the placement script writes each value and execs the command', async (t) => {
  const dir = tmp(t);
  const out = execFileSync('sh', ['-c', PLACE_SCRIPT, 'vmpod-place', join(dir, 'a'), '0', join(dir, 'b'), 'x y', '--', 'cat', join(dir, 'a'), join(dir, 'b')], { encoding: 'utf8' });
  t.equal(out, '0\nx y\n', 'both written, then the command ran');
  const failed = spawnSync('sh', ['-c', PLACE_SCRIPT, 'vmpod-place', join(dir, 'no/such/file'), '0', '--', 'echo', 'ran'], { encoding: 'utf8' });
  t.equal(failed.status, 125, 'a failed write ends it');
  t.equal(failed.stdout, '', 'and the command never runs');
});

t.test('jailed: nsenter, then unshare and the jail script, then setpriv to the pod uid with ambient capabilities, then QEMU', async (t) => {
  const facts = { links: { '/lib': 'usr/lib' }, devices: ['/dev/null'] };
  const c = cfg('/r', { netnsPath: '/run/netns/n', jail: { uid: 1_900_000_007, gid: 1_900_000_007 } });
  const argv = launchArgv(c, { qemuBinary: 'qemu', jailFacts: facts });
  t.same(argv.slice(0, 4), ['nsenter', '--net=/run/netns/n', '--', 'unshare'], 'the netns first (entered by path, which the jail hides)');
  const sp = argv.indexOf('setpriv');
  t.equal(argv[sp - 1], '--', 'the jail plan ends before setpriv');
  const caps = '+chown,+dac_override,+dac_read_search,+fowner,+fsetid';
  t.same(
    argv.slice(sp, sp + 9),
    ['setpriv', '--reuid=1900000007', '--regid=1900000007', '--clear-groups', `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`, `--bounding-set=-all,${caps}`, '--', 'qemu'],
    'the uid, no groups, and exactly QEMU_CAPABILITIES kept across the exec as ambient',
  );
  t.same(argv.slice(sp + 9), launchArgv(cfg('/r', { netnsPath: '/run/netns/n' }), { qemuBinary: 'qemu' }).slice(9), 'the same QEMU args as without a jail');
  t.ok(argv.includes('/r/jail'), 'the jail root is in the run dir');
});

t.test('jailed with vmpod-jail built: nsenter, then the helper with the same plan, then setpriv and QEMU', async (t) => {
  const facts = { links: { '/lib': 'usr/lib' }, devices: ['/dev/null'] };
  const c = cfg('/r', { netnsPath: '/run/netns/n', jail: { uid: 1_900_000_007, gid: 1_900_000_007 } });
  const script = launchArgv(c, { qemuBinary: 'qemu', jailFacts: facts });
  const helped = launchArgv(c, { qemuBinary: 'qemu', jailFacts: { ...facts, helper: '/v/vmpod-jail' } });
  t.same(helped.slice(0, 5), ['nsenter', '--net=/run/netns/n', '--', '/v/vmpod-jail', '/r/jail'], 'the netns first, then the helper with the jail root');
  t.same(helped.slice(4), script.slice(script.indexOf('/r/jail')), 'the same plan, setpriv and QEMU as with the script');
});
