// QEMU of a running VM pod is confined as issue 15 asks (least privilege):
// one VM under TCG, through the CRI API (in-process server, the real microvm
// controller and QEMU, CNI bridge in a throw-away netns). The pod's sandbox
// config names a cgroup_parent (as kubelet's cgroupfs driver does), a CPU
// and memory limit and an oom_score_adj. Checked in /proc/<qemu>: CapEff,
// CapPrm and CapBnd are exactly QEMU_CAPABILITIES (no net_admin, mknod,
// sys_admin), Seccomp is 2 (-sandbox on), the process sits in the pod's leaf
// cgroup under that parent, whose cpu and memory limits are those derived
// from the config, and its oom_score_adj is the pod's. The guest still runs
// a container and an exec (9p and the agent work without the dropped
// capabilities). The cgroup's peak memory use is printed: that is the
// measurement behind VMM_OVERHEAD_MIB. Then the daemon restarts, and the
// pod's removal by the new daemon removes its cgroups (found by id) and
// leaves the parent.
//
// The jail (hypervisor/qemu/jail.ts): QEMU runs as the pod's own uid and gid
// from the handler's range (no supplementary groups), keeps exactly
// QEMU_CAPABILITIES as ambient capabilities, and lives in a mount namespace
// of its own: entered with nsenter, /etc/shadow, /root, the state dir's
// other entries (another pod's dir is stood in for by a dir planted in
// sandboxes/) and the pod's own host-only files do not exist there, while
// the pod's shares, its run dir and a container rootfs bound after QEMU
// started do. The uid is in the launch record, owns the pod's tap, and is
// freed by RemovePodSandbox.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QEMU_CAPABILITIES } from '../../src/hypervisor/qemu/launch';
import { cgroupVersion } from '../../src/host/facts';
import { CGROUP_ROOT, cgroupDirsOf, ownOomScoreAdj, vmCgroupLimits, vmCgroupPaths, vmOomScoreAdj, VMM_OVERHEAD_MIB } from '../../src/host/vm-cgroup';
import { podPaths, vmRunPaths } from '../../src/sandbox/microvm/layout';
import { VM_E2E_COMPONENTS, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest([...VM_E2E_COMPONENTS, ['runc', '/usr/sbin/runc'], ['setpriv', '/usr/bin/setpriv']]);

// One VM boot under TCG on a loaded 2-core machine.
t.setTimeout(15 * 60_000);

/** Linux capability numbers of the names QEMU_CAPABILITIES uses, and of those it must not hold. */
const CAP_BITS: Record<string, number> = { chown: 0, dac_override: 1, dac_read_search: 2, fowner: 3, fsetid: 4, net_admin: 12, sys_admin: 21, sys_resource: 24 };
const MIB = 1024 * 1024;

function statusField(status: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status);
  if (!m) throw new Error(`/proc status has no ${name} line`);
  return m[1];
}

if ('missing' in guest) {
  t.fail(`VM QEMU confinement e2e test cannot run: ${guest.missing}`);
} else {
  const world = vmE2e({
    guest,
    tmpPrefix: 'vqc-',
    netnsPrefix: 'vmpod-confine-',
    cniName: 'vmconfine',
    subnet: '10.88.99.0/24',
    imageTag: 'confine',
    busyboxLinks: ['sleep', 'cat', 'echo'],
  });
  const { podConfig, run } = world;
  const version = cgroupVersion();
  // What kubelet would have made: its pod cgroup. Unique per run; removed at the end.
  const parentBase = `/vmpod-e2e-${process.pid}`;
  const parent = `${parentBase}/podconfine`;

  t.before(() => world.start());
  t.teardown(async () => {
    await world.teardown((s) => t.comment(s));
    for (const p of [parent, parentBase]) for (const d of cgroupDirsOf(p, version)) if (existsSync(d)) rmdirSync(d);
  });

  t.test('QEMU of a running VM pod: capabilities, seccomp, cgroup and limits, OOM score', async (t) => {
    const { client } = world.daemon();
    const pod = podConfig('confine');
    const resources = { cpu_quota: '150000', cpu_period: '100000', memory_limit_in_bytes: String(64 * MIB), oom_score_adj: '700' };
    pod.linux = { ...pod.linux, cgroup_parent: parent, resources };
    const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const st = await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true });
    t.equal(st.status?.state, 'SANDBOX_READY', 'VM pod ready');
    const info = JSON.parse(st.info.info ?? '{}') as { pid: number; memoryMib: number; accel: 'kvm' | 'tcg' };
    const pid = info.pid;
    t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /qemu-system/, 'the pid is QEMU (the placement shell, nsenter and setpriv exec it)');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');

    const want = QEMU_CAPABILITIES.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c])), 0n);
    t.equal(want, 0x1fn, 'the documented minimum: chown, dac_override, dac_read_search, fowner, fsetid (launch.ts says why each)');
    for (const field of ['CapEff', 'CapPrm', 'CapBnd']) {
      const mask = BigInt(`0x${statusField(status, field)}`);
      t.equal(mask, want, `${field} is exactly the documented minimum (0x${mask.toString(16)})`);
      t.same(
        ['net_admin', 'sys_admin', 'sys_resource'].filter((c) => (mask >> BigInt(CAP_BITS[c])) & 1n),
        [],
        `${field} has none of net_admin, sys_admin, sys_resource`,
      );
    }
    for (const field of ['CapInh', 'CapAmb']) {
      t.equal(BigInt(`0x${statusField(status, field)}`), want, `${field} is the same list: kept across exec by the unprivileged uid as ambient capabilities`);
    }
    t.equal(statusField(status, 'Seccomp'), '2', 'seccomp filter mode (-sandbox on)');
    t.equal(statusField(status, 'NoNewPrivs'), '1', 'no new privileges (-sandbox elevateprivileges=deny)');
    // QEMU's own default (mem-merge=on) marks guest RAM mergeable, and a host running KSM for anything else would merge it with other VMs'.
    const mergeable = readFileSync(`/proc/${pid}/smaps`, 'utf8')
      .split('\n')
      .filter((l) => /^VmFlags:.*\bmg\b/.test(l)).length;
    t.equal(mergeable, 0, 'no mapping of QEMU is mergeable by KSM (no "mg" in its smaps VmFlags): memory_merge is off by default');

    // Its own uid: not root, from the handler's range, recorded, and the owner of the pod's tap.
    const ids = (f: string) => new RegExp(`^${f}:\\s*(.*)$`, 'm').exec(status)?.[1].trim().split(/\s+/).map(Number) ?? [];
    const [uid] = ids('Uid');
    const { qemu_uid_base: base, qemu_uid_count: count } = world.vmCfg;
    t.ok(uid >= base && uid < base + count, `QEMU's uid ${uid} is in the handler's range [${base}, ${base + count})`);
    t.same(ids('Uid'), [uid, uid, uid, uid], 'real, effective, saved and fs uid all that uid: never root');
    t.same(ids('Gid'), [uid, uid, uid, uid], 'its gid is the same number');
    t.equal(/^Groups:(.*)$/m.exec(status)?.[1].trim(), '', 'no supplementary groups');
    const runPaths = vmRunPaths(world.cfg.state, podId);
    const record = JSON.parse(readFileSync(join(runPaths.dir, 'vm.json'), 'utf8')) as { uid?: number; gid?: number; netnsPath?: string };
    t.same([record.uid, record.gid], [uid, uid], 'the launch record names the uid and gid');
    // /sys shows the netns of whoever mounted it: a sysfs of the pod netns, in a private mount namespace of the probe's own.
    const tapOwner = execFileSync('nsenter', [`--net=${record.netnsPath ?? ''}`, 'unshare', '--mount', 'sh', '-c', 'mount -t sysfs sysfs /sys && cat /sys/class/net/tap0_vmpod/owner'], {
      encoding: 'utf8',
    }).trim();
    t.equal(Number(tapOwner), uid, "the pod's tap is owned by QEMU's uid (attached without CAP_NET_ADMIN)");
    const uids = JSON.parse(readFileSync(join(world.cfg.root, 'microvm', 'qemu-uids.json'), 'utf8')) as { owners: Record<string, string> };
    t.equal(uids.owners[String(uid)], podId, 'the allocation is persisted for a restarted daemon');

    // Its own mount namespace, where only the pod's files exist.
    t.not(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), "QEMU's mount namespace is not the daemon's");
    const p = podPaths(world.cfg.state, podId);
    // Stands for another pod's dir (and its secrets) in the same state dir.
    const other = join(world.cfg.state, 'sandboxes', 'other-pod');
    mkdirSync(other, { recursive: true, mode: 0o700 });
    writeFileSync(join(other, 'secret'), 'not for this pod');
    const inJail = (path: string) => spawnSync('nsenter', ['-t', String(pid), '-m', 'ls', '-d', path], { encoding: 'utf8' }).status === 0;
    const absent = [
      '/etc/shadow',
      '/etc',
      '/root',
      '/home',
      '/var/lib/vmpod',
      '/proc/sys',
      '/proc/kcore',
      '/sys/fs/cgroup',
      other,
      join(other, 'secret'),
      p.shareSource,
      p.volumeSource,
      p.record,
      join(p.dir, 'staging'),
      world.cfg.root,
    ];
    t.same(absent.filter(inJail), [], 'inside its mount namespace none of these exist: host secrets, other state, the pod dir beyond its two exports');
    const present = [p.shared, p.volumes, runPaths.dir, join(runPaths.dir, 'qmp.sock'), '/dev/null', '/usr/bin/qemu-system-x86_64', '/proc/self/fd'];
    t.same(
      present.filter((x) => !inJail(x)),
      [],
      'while its shares, its run dir (same paths as on the host), its device nodes and its binary do',
    );
    t.ok(existsSync('/etc/shadow') && existsSync(join(other, 'secret')), 'the control: they exist on the host');
    // Its proc (QEMU's 9p server needs /proc/self/fd) shows its uid none of the host's processes.
    const procAsQemu = execFileSync('nsenter', ['-t', String(pid), '-m', `--setuid=${uid}`, `--setgid=${uid}`, 'ls', '/proc'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    t.ok(procAsQemu.includes('self') && inJail('/proc/1'), 'the probe lists that proc (and root there sees pid 1)');
    t.same(
      ['1', String(process.pid)].filter((x) => procAsQemu.includes(x)),
      [],
      'but not init nor the daemon (hidepid=invisible)',
    );

    const paths = vmCgroupPaths(parent, podId);
    t.equal(paths.leaf, `${parent}/vmpod-${podId}/vmm`, 'the leaf is under the parent of the sandbox config');
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const inLeaf = (controller: string) => cgroups.split('\n').some((l) => l.split(':')[2] === paths.leaf && (version === 2 ? l.startsWith('0::') : l.split(':')[1].split(',').includes(controller)));
    for (const c of version === 2 ? ['unified'] : ['cpu', 'cpuacct', 'memory', 'pids']) t.ok(inLeaf(c), `/proc/<qemu>/cgroup names the leaf for ${c}`);
    t.comment(`/proc/<qemu>/cgroup: ${cgroups.trim().replace(/\n/g, ' | ')}`);

    const limits = vmCgroupLimits({ resources, guestMemoryMib: info.memoryMib, accel: info.accel });
    t.same(limits.cpu, { quotaUs: 150000, periodUs: 100000 }, "the quota is the pod's 1.5 CPU");
    t.equal(limits.memoryBytes, (info.memoryMib + VMM_OVERHEAD_MIB[info.accel]) * MIB, 'memory: guest RAM plus the VMM overhead');
    const read = (...p: string[]) => readFileSync(join(...p), 'utf8').trim();
    if (version === 2) {
      t.equal(read(CGROUP_ROOT, paths.pod, 'cpu.max'), '150000 100000', 'cpu.max as derived');
      t.equal(read(CGROUP_ROOT, paths.pod, 'memory.max'), String(limits.memoryBytes), 'memory.max as derived');
    } else {
      t.equal(read(CGROUP_ROOT, 'cpu', paths.pod, 'cpu.cfs_quota_us'), '150000', 'cpu.cfs_quota_us as derived');
      t.equal(read(CGROUP_ROOT, 'cpu', paths.pod, 'cpu.cfs_period_us'), '100000', 'cpu.cfs_period_us as derived');
      t.equal(read(CGROUP_ROOT, 'memory', paths.pod, 'memory.limit_in_bytes'), String(limits.memoryBytes), 'memory.limit_in_bytes as derived');
    }
    t.equal(Number(read(`/proc/${pid}/oom_score_adj`)), vmOomScoreAdj(700, ownOomScoreAdj()).value, "oom_score_adj is the pod's (700), or the daemon's if that is higher");

    // The guest still works: a container on its 9p rootfs, an exec through the agent.
    const cid = await run(podId, pod, 'worker', ['sh', '-c', 'echo started && sleep 3600']);
    const ex = await client.runtime.ExecSync({ container_id: cid, cmd: ['cat', '/proc/version'], timeout: 60 }, 90_000);
    t.equal(ex.exit_code, 0, 'an exec in the VM container works');
    // A non-root container writes what it creates in its rootfs: the 9p server gives the new
    // directory the guest's owner, which takes chown (without it they stayed root's, and the
    // container could not write into its own directory).
    const userCid = await run(podId, pod, 'nonroot', ['sh', '-c', 'mkdir /tmp/u && echo x > /tmp/u/f && stat -c %u /tmp/u /tmp/u/f && sleep 3600'], {
      linux: { security_context: { run_as_user: { value: '1000' } } },
    });
    let owners = '';
    for (let i = 0; i < 120 && owners.split('\n').filter(Boolean).length < 2; i++) {
      owners = (await client.runtime.ExecSync({ container_id: userCid, cmd: ['sh', '-c', 'stat -c %u /tmp/u /tmp/u/f 2>/dev/null'], timeout: 30 }, 60_000)).stdout.toString();
      if (owners.split('\n').filter(Boolean).length < 2) await new Promise((r) => setTimeout(r, 500));
    }
    t.equal(owners, '1000\n1000\n', 'a uid-1000 container made a directory and a file in it, both its own');
    // Container rootfs are bound into the share after QEMU started: they reach the jail by propagation.
    const rootfsRels = execFileSync('nsenter', ['-t', String(pid), '-m', 'ls', join(p.shared, 'c')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    t.same(rootfsRels.sort(), [cid, userCid].sort(), "both containers are in the jail's share");
    t.ok(inJail(join(p.shared, 'c', cid, 'rootfs', 'bin', 'sh')), 'and their rootfs binds (made on the host after QEMU started) propagated into the jail');
    t.notOk(
      readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .some((l) => / shared:\d+/.test(l)),
      'no mount of the jail is shared: nothing made there can propagate back to the host',
    );
    const peak = Number(version === 2 ? read(CGROUP_ROOT, paths.pod, 'memory.peak') : read(CGROUP_ROOT, 'memory', paths.pod, 'memory.max_usage_in_bytes'));
    const qemuStatus = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (f: string) => Number(statusField(qemuStatus, f)) * 1024;
    const meminfo = (await client.runtime.ExecSync({ container_id: cid, cmd: ['cat', '/proc/meminfo'], timeout: 60 }, 90_000)).stdout.toString();
    const guestKib = (f: string) => Number(new RegExp(`^${f}:\\s*(\\d+)`, 'm').exec(meminfo)?.[1] ?? NaN) * 1024;
    const guestUsed = guestKib('MemTotal') - guestKib('MemFree');
    // Guest RAM is QEMU's anonymous memory; what the guest does not count as free it has touched. The rest of QEMU's anonymous memory is its own.
    const mib = (n: number) => (n / MIB).toFixed(1);
    t.comment(
      `measured (${info.accel}, guest ${info.memoryMib} MiB): cgroup peak ${mib(peak)} MiB of limit ${mib(limits.memoryBytes)}; QEMU RssAnon ${mib(kib('RssAnon'))} MiB, RssFile ${mib(kib('RssFile'))} MiB; guest in use ${mib(guestUsed)} MiB; QEMU's own anonymous memory about ${mib(kib('RssAnon') - guestUsed)} MiB`,
    );
    t.ok(peak > 0 && peak < limits.memoryBytes, 'the VM is charged to its cgroup and stays under its limit');

    // A restarted daemon finds the cgroup by the pod id.
    const { client: again } = await world.restartDaemon();
    await again.runtime.StopPodSandbox({ pod_sandbox_id: podId }, 120_000);
    await again.runtime.RemovePodSandbox({ pod_sandbox_id: podId }, 120_000);
    t.same(
      [...cgroupDirsOf(paths.leaf, version), ...cgroupDirsOf(paths.pod, version)].filter((d) => existsSync(d)),
      [],
      "RemovePodSandbox (by a restarted daemon) removed the VM's cgroups",
    );
    t.ok(
      cgroupDirsOf(parent, version).every((d) => existsSync(d)),
      "the parent (kubelet's) stays",
    );
    const after = JSON.parse(readFileSync(join(world.cfg.root, 'microvm', 'qemu-uids.json'), 'utf8')) as { owners: Record<string, string> };
    t.notOk(Object.values(after.owners).includes(podId), "RemovePodSandbox freed the pod's uid");
  });
}
