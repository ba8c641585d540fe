// The runc SandboxController driven directly (no CRI): a pod with a shared PID
// namespace and busybox containers built from the host's /bin/busybox. Real
// runc, conmon and the project's infra process.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSandboxData } from '../../src/sandbox/runc/data';
import { cgroupDirs } from '../../src/sandbox/runc/cgroup-stats';
import { DeadlineExceededError, InvalidArgumentError } from '../../common/errors';
import type { ContainerHandle, ControllerEvent } from '../../src/sandbox/controller';
import type { ContainerConfig__Output } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/cri/runtime/v1/LinuxContainerSecurityContext';
import type { LinuxContainerResources__Output } from '../../src/generated/cri/runtime/v1/LinuxContainerResources';
import { RuncFixture, runcMissing } from '../helpers/runc-fixture';
import { launchConmon } from '../../src/sandbox/runc/conmon';

for (const what of runcMissing()) t.fail(`missing component: ${what}`);

const w = new RuncFixture('vmpod-runc-', {
  applets: ['sh', 'echo', 'sleep', 'cat', 'id', 'ps', 'touch', 'chown', 'unshare', 'tail', 'true', 'mkdir', 'mount'],
  passwd: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n',
  group: 'root:x:0:\nuser:x:1000:\n',
});
const { dir, logs, host, ctl, log, containers } = w;
const busyboxRootfs = (name: string): string => w.busyboxRootfs(name);
t.teardown(() => w.dispose());

const podConfig = w.podConfig('testpod', { dns: { servers: ['10.0.0.10'], searches: ['svc.local'] }, sysctls: { 'kernel.shm_rmid_forced': '1' } });

function secCtx(p: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', target_id: '', userns_options: null },
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...p,
  };
}

function ctrConfig(name: string, script: string, sc: Partial<LinuxContainerSecurityContext__Output> = {}, res: Partial<LinuxContainerResources__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name, attempt: 0 },
    image: null,
    command: ['/bin/sh', '-c', script],
    args: [],
    working_dir: '',
    envs: [{ key: 'GREETING', value: 'hello' }],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: {
      security_context: secCtx(sc),
      resources: {
        cpu_period: '0',
        cpu_quota: '0',
        cpu_shares: '0',
        memory_limit_in_bytes: '0',
        oom_score_adj: '0',
        cpuset_cpus: '',
        cpuset_mems: '',
        hugepage_limits: [],
        unified: {},
        memory_swap_limit_in_bytes: '0',
        ...res,
      },
    },
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
  };
}

const podId = `rcpod${process.pid}`;

const run = (name: string, script: string, sc: Partial<LinuxContainerSecurityContext__Output> = {}, res: Partial<LinuxContainerResources__Output> = {}): Promise<ContainerHandle> =>
  w.run(name, ctrConfig(name, script, sc, res));

async function waitExit(c: ContainerHandle, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    const st = await ctl.containerState(w.pod(), c);
    if (st.state === 'exited' || Date.now() > until) return st;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const logOf = (name: string) => readFileSync(join(logs, `${name}.log`), 'utf8');

t.test('pod sandbox with infra process', async (t) => {
  const sb = await w.createPod(podId, podConfig, 'testpod');
  const { data } = sb;
  t.equal(await ctl.sandboxReady(sb), true, 'infra running');
  const runtime = decodeSandboxData(data, podId);
  t.ok(runtime.infraPid > 0, 'infra pid recorded');
  t.equal(ctl.describeSandbox(sb).pid, runtime.infraPid, 'verbose status names the infra process');
  // `runc start` returns once the container's init has been told to go; its
  // exec of the infra binary follows a moment later (until then it is
  // runc:[2:INIT]), as with containerd. So the name is awaited, within a bound.
  const comm = (): string => readFileSync(`/proc/${runtime.infraPid}/comm`, 'utf8').trim();
  for (const until = Date.now() + 5000; comm() !== 'vmpod-infra' && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
  t.equal(comm(), 'vmpod-infra', 'it is our infra binary (the same pid, after its exec)');
  t.match(readFileSync('/proc/mounts', 'utf8'), runtime.shmPath, 'per-pod /dev/shm mounted');
  t.equal(readFileSync(runtime.resolvConfPath, 'utf8'), 'search svc.local\nnameserver 10.0.0.10\n', 'resolv.conf from DNSConfig');
});

t.test('container output reaches the CRI log; env, hostname and resolv.conf', async (t) => {
  const c = await run('hello', 'echo "$GREETING from $(cat /etc/hostname)"; echo to-stderr >&2; cat /etc/resolv.conf; exit 3');
  const st = await waitExit(c);
  t.equal(st.state, 'exited', 'exited');
  t.equal(st.exitCode, 3, 'exit code recorded');
  t.not(st.finishedAt, '0', 'finished time');
  const text = logOf('hello');
  t.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-Z][^ ]* stdout F hello from testpod$/m, 'CRI log line format');
  t.match(text, / stderr F to-stderr$/m, 'stderr tagged');
  t.match(text, / stdout F nameserver 10\.0\.0\.10$/m, 'pod resolv.conf mounted');
});

t.test('exec sync, shared PID namespace, stats', async (t) => {
  const busy = await run('busy', 'while :; do :; done');
  const r = await ctl.execSync(w.pod(), busy, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 7'], 10);
  t.same([r.stdout.toString(), r.stderr.toString(), r.exitCode], ['out\n', 'err\n', 7], 'stdout, stderr, exit code');
  await t.rejects(ctl.execSync(w.pod(), busy, ['/bin/sleep', '30'], 1), DeadlineExceededError, 'timeout kills and reports');
  const other = await run('other', 'sleep 1000');
  const ps = await ctl.execSync(w.pod(), other, ['/bin/ps', 'ax'], 10);
  t.match(ps.stdout.toString(), /while :; do :; done/, "the other container's process is visible in the shared PID namespace");
  t.match(ps.stdout.toString(), /vmpod-infra/, 'infra is there too');
  await new Promise((r) => setTimeout(r, 300));
  const stats = await ctl.containerStats(w.pod(), busy);
  t.ok(stats && stats.cpuUsageNs > 0, 'cpu usage of the busy container is non-zero');
  t.ok(stats && stats.memoryWorkingSetBytes > 0, 'memory working set non-zero');
  t.ok(stats && stats.processes >= 1, 'process count');
  const podStats = await ctl.sandboxStats(w.pod());
  t.ok(podStats && podStats.cpuUsageNs >= (stats?.cpuUsageNs ?? 0), 'pod cgroup accounts for its containers');
  await ctl.stopContainer(w.pod(), busy, 15, 5, log);
  t.equal((await ctl.containerState(w.pod(), busy)).exitCode, 143, 'SIGTERM ends a shell loop');
});

t.test('the infra process reaps orphans of a shared PID namespace', async (t) => {
  const c = await run('orphans', '(sleep 0.2 &); (sleep 0.2 &); sleep 1000');
  await new Promise((r) => setTimeout(r, 1000));
  const ps = (await ctl.execSync(w.pod(), c, ['/bin/ps', '-o', 'pid,ppid,stat,comm'], 10)).stdout.toString();
  // STAT is S plus flags (N when the daemon runs under nice, s for a session leader): only the state letter matters.
  t.match(ps, /^\s*1\s+0\s+S\S*\s+vmpod-infra$/m, 'ps works and infra is PID 1 of the pod');
  t.notMatch(ps, /\sZ\S*\s/, 'no zombie left');
  await ctl.stopContainer(w.pod(), c, 9, 0, log);
});

t.test('stop escalates to SIGKILL after the timeout', async (t) => {
  const c = await run('stubborn', "trap '' TERM; while :; do sleep 1; done");
  await new Promise((r) => setTimeout(r, 300));
  await ctl.stopContainer(w.pod(), c, 15, 1, log);
  const st = await ctl.containerState(w.pod(), c);
  t.equal(st.state, 'exited', 'stopped');
  t.equal(st.exitCode, 137, 'killed by SIGKILL');
  await ctl.stopContainer(w.pod(), c, 15, 1, log);
  t.pass('stopping again succeeds');
});

t.test('security: user, readonly rootfs, dropped capability, seccomp', async (t) => {
  const cases: { desc: string; script: string; sc: Partial<LinuxContainerSecurityContext__Output>; code: number }[] = [
    { desc: 'run_as_user', script: 'test "$(id -u)" = 1000', sc: { run_as_user: { value: '1000' } }, code: 0 },
    { desc: 'readonly rootfs blocks writes', script: 'touch /newfile', sc: { readonly_rootfs: true }, code: 1 },
    { desc: 'writable rootfs allows writes', script: 'touch /newfile', sc: {}, code: 0 },
    { desc: 'dropped CHOWN', script: 'touch /f && chown 1 /f', sc: { capabilities: { add_capabilities: [], drop_capabilities: ['CHOWN'], add_ambient_capabilities: [] } }, code: 1 },
    { desc: 'chown works by default', script: 'touch /f && chown 1 /f', sc: {}, code: 0 },
    { desc: 'RuntimeDefault seccomp blocks unshare', script: 'unshare -U true', sc: { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }, code: 1 },
    { desc: 'Unconfined allows unshare', script: 'unshare -U true', sc: { seccomp: { profile_type: 'Unconfined', localhost_ref: '' } }, code: 0 },
    { desc: 'privileged may mount', script: 'mkdir -p /m && mount -t tmpfs t /m', sc: { privileged: true }, code: 0 },
    { desc: 'unprivileged may not mount', script: 'mkdir -p /m && mount -t tmpfs t /m || exit 9', sc: {}, code: 9 },
  ];
  let i = 0;
  for (const c of cases) {
    const h = await run(`sec${i++}`, c.script, c.sc);
    const st = await waitExit(h);
    t.equal(st.exitCode, c.code, c.desc);
  }
});

t.test('OOM kill under a small memory limit', async (t) => {
  const c = await run('oom', 'tail /dev/zero', {}, { memory_limit_in_bytes: String(16 * 1024 * 1024) });
  const st = await waitExit(c, 60_000);
  t.equal(st.exitCode, 137, 'killed');
  t.equal(st.oomKilled, true, 'reported as OOM');
});

t.test("exits are reported as events as they happen (conmon's exit file, watched), without being asked", async (t) => {
  const events: ControllerEvent[] = [];
  ctl.onEvent((e) => events.push(e));
  const c = await run('evented', 'sleep 0.3; exit 7');
  const until = Date.now() + 20_000;
  while (!events.some((e) => e.kind === 'container-exited' && e.containerId === c.id) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.match(
    events.find((e) => e.kind === 'container-exited' && e.containerId === c.id),
    { state: { state: 'exited', exitCode: 7 } },
    'the exit event carries the code',
  );
  t.notOk(
    events.some((e) => e.kind === 'sandbox-died'),
    'the pod did not die',
  );
});

t.test('a container without a CRI log path runs', async (t) => {
  const id = `${podId}-nolog`;
  const made = await ctl.createContainer({ id, sandbox: w.pod(), config: ctrConfig('nolog', 'echo quiet'), image: {}, rootfs: busyboxRootfs('nolog'), logPath: '', log });
  const c = { id, logPath: '', data: made.data };
  containers.push(c);
  await ctl.startContainer(w.pod(), c);
  t.equal((await waitExit(c)).exitCode, 0, 'ran and exited');
});

t.test('a failed create leaves nothing behind', async (t) => {
  const id = `${podId}-bad`;
  const config = ctrConfig('bad', 'true');
  config.mounts = [{ container_path: '/x', host_path: join(dir, 'does-not-exist'), readonly: false, propagation: 'PROPAGATION_PRIVATE' } as ContainerConfig__Output['mounts'][number]];
  await t.rejects(ctl.createContainer({ id, sandbox: w.pod(), config, image: {}, rootfs: busyboxRootfs('bad'), logPath: '', log }), InvalidArgumentError);
  t.notOk(existsSync(ctl.paths.containerBundle(id)), 'no bundle');
  t.equal(await ctl.runc.state(id), null, 'no runc container');
});

t.test('runc makes a container at its start: a rootfs runc cannot use fails StartContainer, and leaves no runc container', async (t) => {
  const id = `${podId}-bad2`;
  const made = await ctl.createContainer({ id, sandbox: w.pod(), config: ctrConfig('bad2', 'true'), image: {}, rootfs: join(dir, 'no-rootfs'), logPath: '', log });
  const c = { id, logPath: '', data: made.data };
  t.equal(await ctl.runc.state(id), null, 'created: runc knows nothing of it yet');
  t.equal((await ctl.containerState(w.pod(), c)).state, 'created', 'yet it reads as created');
  await t.rejects(ctl.startContainer(w.pod(), c), new RegExp(`runc create of ${id} failed`), "the start fails, with runc's reason");
  t.equal(await ctl.runc.state(id), null, 'no runc container after the failed start');
  await ctl.removeContainer(w.pod(), c, log);
  t.notOk(existsSync(ctl.paths.containerBundle(id)), 'removal takes its bundle');
  // What an UpdateContainerResources that raced the removal finds (test/fault/cri-fuzz answered INTERNAL).
  const update = ctrConfig('bad2', 'true', {}, { memory_limit_in_bytes: String(64 << 20) }).linux!.resources!;
  await t.rejects(
    ctl.updateContainer(w.pod(), c, update),
    { code: 'NOT_FOUND', message: new RegExp(`${id}.*removed while its resources were being updated`) },
    'an update after its bundle went is NOT_FOUND',
  );
});

t.test('a created container: its resources update reaches the spec runc makes it from; a PID namespace target must have started', async (t) => {
  const id = `${podId}-late`;
  const script = 'sleep 1000';
  const made = await ctl.createContainer({ id, sandbox: w.pod(), config: ctrConfig('late', script), image: {}, rootfs: busyboxRootfs('late'), logPath: '', log });
  const c = { id, logPath: '', data: made.data };
  containers.push(c);
  const joiner = ctrConfig('joiner', 'true', { namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: id, userns_options: null } });
  await t.rejects(
    ctl.createContainer({ id: `${podId}-joiner`, sandbox: w.pod(), config: joiner, image: {}, rootfs: busyboxRootfs('joiner'), logPath: '', log, target: c }),
    new RegExp(`PID namespace it joins \\(${id}\\) has not been started`),
    'joining the PID namespace of a container not started is refused, naming it',
  );
  await ctl.updateContainer(w.pod(), c, ctrConfig('late', script, {}, { memory_limit_in_bytes: String(64 << 20) }).linux!.resources!);
  const spec = JSON.parse(readFileSync(join(ctl.paths.containerBundle(id), 'config.json'), 'utf8')) as { linux: { resources: { memory?: { limit?: number }; devices?: unknown[] } } };
  t.equal(spec.linux.resources.memory?.limit, 64 << 20, "the new limit is in the bundle's spec");
  t.ok((spec.linux.resources.devices ?? []).length > 0, 'the device rules stay');
  await ctl.startContainer(w.pod(), c);
  t.equal((await ctl.containerState(w.pod(), c)).state, 'running', 'running after its start');
  t.ok(ctl.describeContainer(w.pod(), c).pid > 0, 'its init PID is known');
  const limit = await ctl.execSync(w.pod(), c, ['/bin/sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'], 10);
  t.equal(limit.stdout.toString().trim(), String(64 << 20), 'it runs with the limit set before its start');
});

t.test('a start retried after a daemon died between runc create and runc start only starts', async (t) => {
  const id = `${podId}-resumed`;
  const made = await ctl.createContainer({ id, sandbox: w.pod(), config: ctrConfig('resumed', 'sleep 1000'), image: {}, rootfs: busyboxRootfs('resumed'), logPath: '', log });
  const c = { id, logPath: '', data: made.data };
  containers.push(c);
  // What the interrupted start did before the daemon died: conmon, and runc create under it.
  const bundle = ctl.paths.containerBundle(id);
  const made1 = await launchConmon({
    id,
    name: 'resumed',
    bundle,
    runcRoot: ctl.paths.runcRoot,
    runcBinary: '/usr/sbin/runc',
    logPath: '',
    exitDir: ctl.paths.exitDir,
    tty: false,
    stdin: false,
    stdinOnce: false,
  });
  t.equal((await ctl.runc.state(id))?.status, 'created', 'made by the first start');
  // A restarted daemon is a new controller over the same state.
  const again = w.newController();
  t.teardown(() => again.close());
  t.equal((await again.containerState(w.pod(), c)).state, 'created', 'created after the restart');
  await again.startContainer(w.pod(), c);
  t.equal((await again.containerState(w.pod(), c)).state, 'running', 'running: the second start did not make it again');
  t.equal(again.describeContainer(w.pod(), c).pid, made1.pid, 'the init the first start made');
});

t.test('removing everything leaves nothing behind', async (t) => {
  const runtime = decodeSandboxData(w.pod().data, podId);
  for (const c of containers.splice(0)) {
    await ctl.stopContainer(w.pod(), c, 15, 0, log);
    await ctl.removeContainer(w.pod(), c, log);
    await ctl.removeContainer(w.pod(), c, log);
    t.notOk(existsSync(ctl.paths.containerBundle(c.id)), `${c.id} bundle removed`);
  }
  await ctl.stopSandbox(w.pod(), log);
  await ctl.stopSandbox(w.pod(), log);
  t.equal(await ctl.sandboxReady(w.pod()), false, 'not ready after stop');
  await ctl.removeSandbox(w.pod(), log);
  await ctl.removeSandbox(w.pod(), log);
  t.notOk(existsSync(`/proc/${runtime.infraPid}`), 'infra process gone');
  t.notOk(readFileSync('/proc/mounts', 'utf8').includes(runtime.podDir), 'no mount of the pod left');
  t.notOk(existsSync(runtime.podDir), 'pod dir removed');
  for (const d of cgroupDirs(runtime.cgroupParent, host.cgroupVersion)) t.notOk(existsSync(d), `cgroup ${d} removed`);
  t.equal(execFileSync('/usr/sbin/runc', ['--root', ctl.paths.runcRoot, 'list', '-q']).toString().trim(), '', 'runc knows no container');
  w.sb = undefined;
});
