// Trusted pods over the real CRI gRPC server: images pulled from a local
// docker-registry, containers run by runc under conmon. The pod network is a
// stand-in that gives each pod a fresh, unconnected network namespace (the
// infra process creates it), so the test needs no CNI; the daemon wires the
// real PodNetwork.

import t from 'tap';
import type { Test } from 'tap';
import type { PodSandboxConfig } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig } from '../../src/generated/cri/runtime/v1/ContainerConfig';
import type { ContainerStatusResponse__Output } from '../../src/generated/cri/runtime/v1/ContainerStatusResponse';
import type { ExecSyncResponse__Output } from '../../src/generated/cri/runtime/v1/ExecSyncResponse';
import type { PodSandboxStatusResponse__Output } from '../../src/generated/cri/runtime/v1/PodSandboxStatusResponse';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { PodNetworkProvider } from '../../src/pods/providers';
import { newContainerRecord } from '../../src/store/container';
import { newSandboxRecord } from '../../src/store/sandbox';
import { defaultConfig } from '../../src/config/defaults';
import { createImageService, type ImageService } from '../../src/image';
import { silentLogger } from '../../src/log';
import { cgroupDirs } from '../../src/sandbox/runc/cgroup-stats';
import { RuncPaths } from '../../src/sandbox/runc/paths';
import type { CriClient } from '../helpers/cri-client';
import { composeRuntime, serveCri, type InProcessCri } from '../helpers/cri-server';
import { busyboxEntries, makeTar, RegistryPusher, type TarEntry } from '../helpers/image-builder';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

const dir = mkdtempSync(join(tmpdir(), 'vmpod-runc-cri-'));
const cfg = defaultConfig();
cfg.root = join(dir, 'root');
cfg.state = join(dir, 'state');
const socket = join(dir, 'vmpod.sock');
const logDir = join(dir, 'pod-logs');
const noNetwork: PodNetworkProvider = {
  prepare: async () => ({ netnsPath: '', attach: async () => ({ ips: { ip: '', additionalIps: [] } }) }),
  teardown: async () => undefined,
  reconcile: async () => [],
};

let reg: RunningRegistry | undefined;
let images: ImageService;
let cri: InProcessCri | undefined;
let client: CriClient;
let imageRef = '';

/** The pod's infra process on the host, as verbose status reports it (where crictl inspectp shows it). */
async function infraPidOf(podId: string): Promise<number> {
  const st = await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true });
  const pid = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
  if (!(pid > 0)) throw new Error(`verbose PodSandboxStatus of ${podId} names no infra pid: ${st.info.info}`);
  return pid;
}

t.before(async () => {
  reg = await startRegistry();
  const extra: TarEntry[] = ['sleep', 'echo', 'id', 'ps', 'touch', 'tail', 'true', 'false'].map((n) => ({ name: `bin/${n}`, type: 'symlink', linkname: 'busybox' }));
  await new RegistryPusher(reg).pushImage('test/busybox', 'v1', [{ tar: await makeTar([...busyboxEntries(), ...extra]), compression: 'gzip' }], {
    config: { StopSignal: 'SIGUSR1', Cmd: ['/bin/sh'] },
  });
  imageRef = `${reg.host}/test/busybox:v1`;
  images = await createImageService({ root: cfg.root, registries: { [reg.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  cri = await serveCri(socket, { config: cfg, log: silentLogger, images, network: noNetwork });
  ({ client } = cri);
  await client.image.PullImage({ image: { image: imageRef } }, 120_000);
});

t.teardown(async () => {
  // Whatever a failed assertion left: remove every pod through the API.
  try {
    const { items } = await client.runtime.ListPodSandbox({});
    for (const p of items) await client.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
  } catch {
    /* server may not have started */
  }
  await cri?.close();
  await reg?.stop();
  execFileSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
});

function podConfig(name: string, extra: Record<string, unknown> = {}): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
    hostname: name,
    log_directory: join(logDir, name),
    labels: { app: name },
    annotations: {},
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    ...extra,
  };
}

function containerConfig(name: string, command: string[], extra: Record<string, unknown> = {}): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: { image: imageRef }, command, log_path: `${name}.log`, labels: { c: name }, ...extra };
}

async function runContainer(podId: string, pod: PodSandboxConfig, name: string, command: string[], extra: Record<string, unknown> = {}) {
  const { container_id } = await client.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(name, command, extra), sandbox_config: pod });
  await client.runtime.StartContainer({ container_id });
  return container_id;
}

async function waitExited(id: string) {
  for (let i = 0; i < 200; i++) {
    const { status } = await client.runtime.ContainerStatus({ container_id: id });
    if (status?.state === 'CONTAINER_EXITED') return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`container ${id} did not exit`);
}

const code = (err: unknown) => (err as ServiceError).code;

t.test('full lifecycle of a trusted pod over CRI', async (t) => {
  const pod = podConfig('web');
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const st = await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true });
  t.equal(st.status?.state, 'SANDBOX_READY', 'pod ready');
  t.equal(st.status?.runtime_handler, 'runc', 'runtime handler reported');
  t.equal(st.status?.linux?.namespaces?.options?.pid, 'POD', 'namespace options reported');
  t.match(JSON.parse(st.info.info ?? '{}'), { routeReason: 'default_trust is trusted', handler: 'runc' }, 'route decision in info');

  const done = await runContainer(podId, pod, 'done', ['/bin/sh', '-c', 'echo hello; echo oops >&2']);
  const failed = await runContainer(podId, pod, 'failed', ['/bin/sh', '-c', 'exit 4']);
  const sleeper = await runContainer(podId, pod, 'sleeper', ['/bin/sh', '-c', "trap 'echo got-usr1; exit 0' USR1; while :; do sleep 1; done"]);

  const sDone = await waitExited(done);
  t.match(sDone, { exit_code: 0, reason: 'Completed' }, 'Completed');
  t.not(sDone.finished_at, '0', 'finished_at set');
  t.match(readFileSync(join(logDir, 'web', 'done.log'), 'utf8'), /^\S+ stdout F hello\n\S+ stderr F oops\n$/, 'CRI log file content and format');
  t.match(await waitExited(failed), { exit_code: 4, reason: 'Error' }, 'Error with exit code');
  t.match(sDone.user, { linux: { uid: '0', gid: '0' } }, 'user reported');

  const running = await client.runtime.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' }, pod_sandbox_id: podId } });
  t.same(
    running.containers.map((c) => c.id),
    [sleeper],
    'state filter',
  );
  const byLabel = await client.runtime.ListContainers({ filter: { label_selector: { c: 'done' } } });
  t.same(
    byLabel.containers.map((c) => c.id),
    [done],
    'label filter',
  );
  const byPrefix = await client.runtime.ListContainers({ filter: { id: sleeper.slice(0, 12) } });
  t.same(
    byPrefix.containers.map((c) => c.id),
    [sleeper],
    'id prefix filter',
  );

  const ex = await client.runtime.ExecSync({ container_id: sleeper, cmd: ['/bin/sh', '-c', 'ps; exit 2'], timeout: '10' });
  t.equal(ex.exit_code, 2, 'exec exit code');
  t.match(ex.stdout.toString(), /sleep 1/, 'exec output');
  await t.rejects(client.runtime.ExecSync({ container_id: sleeper, cmd: ['/bin/sleep', '20'], timeout: '1' }), { code: GrpcStatus.DEADLINE_EXCEEDED }, 'exec timeout');

  const cs = await client.runtime.ContainerStats({ container_id: sleeper });
  t.ok(Number(cs.stats?.memory?.working_set_bytes?.value ?? 0) > 0, 'container memory stats');
  t.ok(cs.stats?.writable_layer?.fs_id?.mountpoint, 'writable layer reported');
  const ps = await client.runtime.PodSandboxStats({ pod_sandbox_id: podId });
  t.ok(Number(ps.stats?.linux?.process?.process_count?.value ?? 0) >= 2, 'pod process count (infra + sleeper)');
  const desc = await client.runtime.ListMetricDescriptors({});
  t.ok(
    desc.descriptors.some((d) => d.name === 'container_cpu_usage_seconds_total'),
    'cadvisor metric names',
  );
  const pm = await client.runtime.ListPodSandboxMetrics({});
  t.ok(
    pm.pod_metrics.find((p) => p.pod_sandbox_id === podId)?.container_metrics.some((c) => c.container_id === sleeper),
    'pod metrics list the running container',
  );

  await client.runtime.UpdateContainerResources({ container_id: sleeper, linux: { cpu_shares: '256', memory_limit_in_bytes: String(64 << 20) } });
  const updated = await client.runtime.ContainerStatus({ container_id: sleeper });
  t.equal(updated.status?.resources?.linux?.cpu_shares, '256', 'updated resources reported');
  // kubelet's rotation: rename, then ReopenContainerLog. Regression (critest
  // "should support reopening container log"): the call returned before conmon
  // had made the new file.
  const sleeperLog = join(logDir, 'web', 'sleeper.log');
  renameSync(sleeperLog, `${sleeperLog}.1`);
  await client.runtime.ReopenContainerLog({ container_id: sleeper });
  t.ok(existsSync(sleeperLog), 'the new log file exists when ReopenContainerLog returns');

  // The image's StopSignal is SIGUSR1; the container's shell traps it.
  const verbose = await client.runtime.ContainerStatus({ container_id: sleeper, verbose: true });
  t.equal((JSON.parse(verbose.info.info ?? '{}') as { stopSignal?: number }).stopSignal, 10, 'stop signal taken from the image config');
  t.equal(verbose.status?.stop_signal, 'SIGUSR1', 'and reported in the status');
  const vinfo = JSON.parse(verbose.info.info ?? '{}') as { pid: number; sandboxID: string };
  t.match(readFileSync(`/proc/${vinfo.pid}/cmdline`, 'utf8'), /sh/, "verbose info.pid is the container's process on the host");
  t.equal(vinfo.sandboxID, podId, 'and info.sandboxID its pod');
  await client.runtime.StopContainer({ container_id: sleeper, timeout: '10' });
  t.match(await waitExited(sleeper), { exit_code: 0 }, 'stopped by the image StopSignal, before the timeout');
  t.match(readFileSync(sleeperLog, 'utf8'), / stdout F got-usr1\n/, 'the container saw SIGUSR1 (written to the reopened log)');
  await client.runtime.StopContainer({ container_id: sleeper, timeout: '10' });
  await client.runtime.RemoveContainer({ container_id: done });
  await client.runtime.RemoveContainer({ container_id: done });
  t.pass('stop and remove are idempotent');

  const infraPid = await infraPidOf(podId);
  await client.runtime.StopPodSandbox({ pod_sandbox_id: podId });
  await client.runtime.StopPodSandbox({ pod_sandbox_id: podId });
  t.equal((await client.runtime.PodSandboxStatus({ pod_sandbox_id: podId })).status?.state, 'SANDBOX_NOTREADY', 'pod not ready after stop');
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  await client.runtime.StopPodSandbox({ pod_sandbox_id: podId });
  t.same((await client.runtime.ListContainers({})).containers, [], 'no containers left');
  t.same((await client.runtime.ListPodSandbox({})).items, [], 'no pods left');
  assertNothingLeft(t, podId, infraPid);
});

function assertNothingLeft(t: Test, podId: string, infraPid: number) {
  const paths = new RuncPaths(cfg.state);
  t.notOk(infraPid > 0 && existsSync(`/proc/${infraPid}`), 'no infra process');
  t.notOk(readFileSync('/proc/mounts', 'utf8').includes(dir), 'no mount under the test dirs');
  t.notOk(existsSync(paths.podDir(podId)), 'no pod state dir');
  for (const d of cgroupDirs(`/vmpod/${podId}`, 1)) t.notOk(existsSync(d), `no cgroup ${d}`);
  t.equal(execFileSync('/usr/sbin/runc', ['--root', paths.runcRoot, 'list', '-q']).toString().trim(), '', 'runc knows no container');
  t.notOk(execFileSync('ps', ['-eo', 'args']).toString().includes(paths.runcRoot), 'no conmon of ours left');
}

t.test('OOM kill is reported as OOMKilled', async (t) => {
  const pod = podConfig('oom');
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }));
  const id = await runContainer(podId, pod, 'hog', ['/bin/tail', '/dev/zero'], { linux: { resources: { memory_limit_in_bytes: String(16 << 20) } } });
  t.match(await waitExited(id), { exit_code: 137, reason: 'OOMKilled' }, 'OOMKilled');
});

t.test('routing and refusals over CRI', async (t) => {
  await t.rejects(
    client.runtime.RunPodSandbox({ config: podConfig('kata'), runtime_handler: 'kata' }),
    { code: GrpcStatus.INVALID_ARGUMENT, details: /configured handlers: runc, vm/ },
    'unknown handler',
  );
  const hostNet = podConfig('hn', { annotations: { 'io.kubernetes.cri.untrusted-workload': 'true' }, linux: { security_context: { namespace_options: { network: 'NODE' } } } });
  await t.rejects(client.runtime.RunPodSandbox({ config: hostNet }), { code: GrpcStatus.FAILED_PRECONDITION, details: /host network/ }, 'untrusted + host network');
  t.same((await client.runtime.ListPodSandbox({})).items, [], 'refused pods leave no record');
});

t.test('a failed create rolls back and leaves nothing', async (t) => {
  const pod = podConfig('bad');
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const err = await client.runtime
    .CreateContainer({
      pod_sandbox_id: podId,
      sandbox_config: pod,
      config: containerConfig('c', ['/bin/true'], { mounts: [{ container_path: '/data', host_path: join(dir, 'missing') }] }),
    })
    .catch((e: unknown) => e);
  t.equal(code(err), GrpcStatus.INVALID_ARGUMENT, 'missing host path is INVALID_ARGUMENT');
  t.match((err as ServiceError).details, /step "runtime-create".*does not exist on the host/, 'names the step and the problem');
  t.same((await client.runtime.ListContainers({})).containers, [], 'no container record');
  t.same(
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.includes(join(cfg.root, 'image', 'containers'))),
    [],
    'rootfs unmounted',
  );

  // A command the image does not have: runc makes the container at StartContainer (as containerd makes its task), which
  // fails then; the caller must fix it.
  const { container_id: noCmdId } = await client.runtime.CreateContainer({ pod_sandbox_id: podId, sandbox_config: pod, config: containerConfig('nocmd', ['/no/such/command']) });
  const noCmd = await client.runtime.StartContainer({ container_id: noCmdId }).catch((e: unknown) => e);
  t.equal(code(noCmd), GrpcStatus.FAILED_PRECONDITION, 'a command missing from the image is FAILED_PRECONDITION, not INTERNAL');
  t.match((noCmd as ServiceError).details, /its process cannot be started.*\/no\/such\/command/, "says so with runc's words");
  t.match((await client.runtime.ContainerStatus({ container_id: noCmdId })).status, { state: 'CONTAINER_EXITED', reason: 'StartError' }, 'the container is EXITED, reason StartError');
  await client.runtime.RemoveContainer({ container_id: noCmdId });

  const infraPid = await infraPidOf(podId);
  await client.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  assertNothingLeft(t, podId, infraPid);
});

t.test('host network pod keeps the host hostname; sysctls reach the pod', async (t) => {
  const pod = podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } });
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: podId }));
  const id = await runContainer(podId, pod, 'h', ['/bin/sh', '-c', 'cat /proc/sys/kernel/hostname']);
  await waitExited(id);
  const host = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  t.match(readFileSync(join(logDir, 'hostnet', 'h.log'), 'utf8'), ` stdout F ${host}\n`, 'host hostname');

  const sysPod = podConfig('sysctl', { linux: { sysctls: { 'kernel.shm_rmid_forced': '1' }, security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } });
  const { pod_sandbox_id: sysId } = await client.runtime.RunPodSandbox({ config: sysPod });
  t.teardown(() => client.runtime.RemovePodSandbox({ pod_sandbox_id: sysId }));
  const s1 = await runContainer(sysId, sysPod, 's', ['/bin/sh', '-c', 'cat /proc/sys/kernel/shm_rmid_forced /etc/hostname']);
  await waitExited(s1);
  t.match(readFileSync(join(logDir, 'sysctl', 's.log'), 'utf8'), / stdout F 1\n.* stdout F sysctl\n/, 'IPC sysctl applied in the pod; pod hostname file');
});

t.test('a restarted daemon finds its pods and running containers', async (t) => {
  const pod = podConfig('survivor');
  const { pod_sandbox_id: podId } = await client.runtime.RunPodSandbox({ config: pod });
  const id = await runContainer(podId, pod, 'keep', ['/bin/sh', '-c', 'while :; do echo tick; sleep 1; done']);
  // A second set of stores and controllers over the same root and state, as after a restart.
  const images2 = await createImageService({ root: cfg.root, registries: { [reg!.host]: { insecure: true, mirrors: [] } }, log: silentLogger });
  const second = composeRuntime({ config: cfg, log: silentLogger, images: images2, network: noNetwork });
  t.teardown(() => second.pods.close());
  const table = second.runtime;
  const ctx = { log: silentLogger, signal: new AbortController().signal };
  const st = (await table.ContainerStatus({ container_id: id, verbose: false }, ctx)) as ContainerStatusResponse__Output;
  t.equal(st.status?.state, 'CONTAINER_RUNNING', 'container still running after the restart');
  const ps = (await table.PodSandboxStatus({ pod_sandbox_id: podId, verbose: false }, ctx)) as PodSandboxStatusResponse__Output;
  t.equal(ps.status?.state, 'SANDBOX_READY', 'pod still ready');
  const ex = (await table.ExecSync({ container_id: id, cmd: ['/bin/echo', 'still here'], timeout: '10' }, ctx)) as ExecSyncResponse__Output;
  t.equal(ex.stdout.toString(), 'still here\n', 'exec works through the new instance');
  const logPath = join(logDir, 'survivor', 'keep.log');
  renameSync(logPath, `${logPath}.1`);
  await table.ReopenContainerLog({ container_id: id }, ctx);
  for (let i = 0; i < 50 && !existsSync(logPath); i++) await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 50 && !readFileSync(logPath, 'utf8').includes('tick'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(readFileSync(logPath, 'utf8'), / stdout F tick\n/, 'after ReopenContainerLog conmon writes a new file at the log path');
  await table.RemovePodSandbox({ pod_sandbox_id: podId }, ctx);
  t.notOk(second.containers.get(id), 'removed through the new instance');
  // The first instance reads the stores again, the image store's leases included (the survivor's lease is gone from disk).
  cri!.sandboxes.load();
  cri!.containers.load();
  await images.start();
});

t.test('creates interrupted by a daemon crash are cleaned up at start-up', async (t) => {
  // What a daemon killed inside RunPodSandbox and CreateContainer leaves: records
  // still "creating", a running infra, a mounted rootfs.
  const id = 'interrupted0pod';
  const cid = 'interrupted0ctr';
  const config = podConfig('interrupted');
  const namespaces = { network: 'POD', pid: 'POD', ipc: 'POD' } as const;
  const { sandboxes, containers } = cri!;
  const ctl = cri!.controllers.get('runc')!;
  const data = await ctl.createSandbox({ id, config: config as never, namespaces, hostname: 'interrupted', netnsPath: '', ips: [], log: silentLogger });
  sandboxes.create(newSandboxRecord({ id, config: config as never, handler: 'runc', routeReason: 'test', createdAt: '1', namespaces, hostname: 'interrupted' }));
  const image = images.resolve(imageRef);
  const layout = await images.prepareRootfs(cid, image.id);
  await images.mountRootfs(cid);
  containers.create(
    newContainerRecord({
      id: cid,
      podSandboxId: id,
      config: containerConfig('x', ['/bin/true']) as never,
      image: imageRef,
      imageId: image.id,
      imageRef: image.id,
      logPath: '',
      stopSignal: 15,
      createdAt: '1',
      resources: null,
    }),
  );
  t.equal(await cri!.pods.recover(), 2, 'both interrupted creates cleaned up');
  t.notOk(sandboxes.get(id) || containers.get(cid), 'records deleted');
  t.notOk(readFileSync('/proc/mounts', 'utf8').includes(layout.mountpoint), 'rootfs unmounted');
  assertNothingLeft(t, id, data.infraPid as number);
});
