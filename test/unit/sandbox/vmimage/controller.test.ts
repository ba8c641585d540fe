// The vm-image controller's container lifecycle against a stand-in
// hypervisor (no QEMU): disk, overlay and cidata are real (qemu-img,
// genisoimage), the VM is a fake whose end the test decides.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FailedPreconditionError } from '../../../../common/errors';
import { vmImageHandlerConfig } from '../../../../src/config/handlers/vm-image';
import type { Hypervisor, VmConfig, VmExit, VmHandle } from '../../../../src/hypervisor';
import { silentLogger } from '../../../../src/log';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerHandle, ControllerEvent, SandboxHandle } from '../../../../src/sandbox/controller';
import { VmImageController } from '../../../../src/sandbox/vmimage/controller';
import { vmImagePodPaths } from '../../../../src/sandbox/vmimage/layout';

class FakeVm {
  private end!: (e: VmExit) => void;
  readonly ended = new Promise<VmExit>((r) => (this.end = r));
  started = false;
  stops: number[] = [];
  constructor(readonly config: VmConfig) {}
  handle(): VmHandle {
    return {
      id: this.config.id,
      pid: 4242,
      consoleLog: '',
      status: () => Promise.resolve('running'),
      start: () => {
        this.started = true;
        return Promise.resolve();
      },
      resume: () => Promise.resolve(),
      addDevice: () => Promise.resolve(),
      removeDevice: () => Promise.resolve(),
      devices: () => [],
      stop: (o) => {
        this.stops.push(o?.gracefulTimeoutMs ?? -1);
        // A guest that answers the power button powers off.
        this.powerOff(o?.gracefulTimeoutMs ? 'guest-shutdown' : 'killed');
        return this.ended;
      },
      wait: () => this.ended,
      onEvent: () => () => undefined,
      hostStats: () => ({ cpuNs: 5, cpuUserNs: 3, cpuSystemNs: 2, rssBytes: 100, pssBytes: 90, anonBytes: 80, minorFaults: 1, majorFaults: 0, threads: 4 }),
      consoleTail: () => '',
      drainConsole: () => Promise.resolve(),
      detach: () => undefined,
    };
  }
  powerOff(reason: VmExit['reason'] = 'guest-shutdown'): void {
    this.end({ reason, exitCode: reason === 'killed' ? null : 0, signal: reason === 'killed' ? 'SIGKILL' : null, at: new Date() });
  }
}

function fakeHypervisor(): { hv: Hypervisor; vms: FakeVm[]; destroyed: string[] } {
  const vms: FakeVm[] = [];
  const destroyed: string[] = [];
  const hv: Hypervisor = {
    name: 'fake',
    prepare: (config) => {
      const vm = new FakeVm(config);
      vms.push(vm);
      return Promise.resolve(vm.handle());
    },
    start: () => Promise.reject(new Error('not used')),
    reconnect: () => Promise.resolve(undefined),
    destroy: async (runDir) => {
      destroyed.push(runDir);
      await rm(runDir, { recursive: true, force: true });
    },
  };
  return { hv, vms, destroyed };
}

const podId = 'pod0000000000000000000000000000000000000000000000000000000000aa';
const podConfig = {
  metadata: { name: 'p', uid: 'uid-1', namespace: 'd', attempt: 0 },
  hostname: 'vmi',
  annotations: {},
  dns_config: { servers: ['10.96.0.10'], searches: [], options: [] },
  linux: { cgroup_parent: '', resources: null, security_context: { privileged: false } },
} as unknown as PodSandboxConfig__Output;
const ctrConfig = (name: string, attempt = 0, mounts: { host_path: string; container_path: string; readonly: boolean }[] = []) =>
  ({
    metadata: { name, attempt },
    image: { image: 'reg/vm:1' },
    annotations: {},
    mounts,
    devices: [],
    linux: { resources: null, security_context: { privileged: false } },
  }) as unknown as ContainerConfig__Output;

t.test('a VM-image container: created, running while the VM runs, exited 0 when the guest powers off, restarted on the same overlay', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmimage-ctl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'disk'), { recursive: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(rootfs, 'disk', 'd.qcow2'), '64M']);
  const { hv, vms, destroyed } = fakeHypervisor();
  const ctl = new VmImageController({
    handler: 'vmi',
    config: { state, root: join(dir, 'root') },
    vmImage: vmImageHandlerConfig.defaults(),
    hypervisor: hv,
    uids: null,
    accel: () => Promise.resolve('tcg'),
  });
  const events: ControllerEvent[] = [];
  ctl.onEvent((e) => events.push(e));
  // The pod's host side as createSandbox leaves it, without a netns or cgroup.
  mkdirSync(vmImagePodPaths(state, podId).dir, { recursive: true, mode: 0o700 });
  const sb: SandboxHandle = {
    id: podId,
    config: podConfig,
    namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
    hostname: 'vmi',
    netnsPath: '',
    data: { v: 1, netnsPath: '', accel: 'tcg', vcpus: 1, memoryMib: 1024 },
  };
  t.equal(await ctl.sandboxReady(sb), true, 'ready without a VM');

  const cfgDir = join(dir, 'configmap');
  mkdirSync(cfgDir);
  const mounts = [
    { host_path: join(dir, 'etc-hosts'), container_path: '/etc/hosts', readonly: false },
    { host_path: cfgDir, container_path: '/etc/app', readonly: true },
  ];
  writeFileSync(mounts[0].host_path, '');
  const create = async (id: string, attempt: number): Promise<ContainerHandle> => {
    ctl.checkContainer(sb, ctrConfig('vm', attempt, mounts));
    const made = await ctl.createContainer({ id, sandbox: sb, config: ctrConfig('vm', attempt, mounts), image: {}, rootfs, logPath: '', imageId: 'sha256:1', log: silentLogger });
    t.equal(made.writablePath, join(vmImagePodPaths(state, podId).dir, 'overlay.qcow2'), "the container's writable layer is the pod's overlay (ContainerStats, ephemeral storage)");
    return { id, logPath: '', data: made.data };
  };
  const c1 = await create('ctr1', 0);
  t.equal(c1.data.overlayPlan, 'create');
  t.same((await ctl.containerState(sb, c1)).state, 'created');
  t.throws(() => ctl.checkContainer(sb, ctrConfig('sidecar')), FailedPreconditionError, 'a second container name is refused');
  t.throws(() => ctl.checkContainer(sb, ctrConfig('vm', 1)), /still runs as container ctr1/, 'no restart while the first one is not exited');

  await ctl.startContainer(sb, c1);
  t.equal(vms.length, 1);
  t.ok(vms[0].started, 'vCPUs started after prepare');
  t.equal(vms[0].config.disks?.[0].backing?.path, join(rootfs, 'disk', 'd.qcow2'), 'the image disk is the backing of the boot disk');
  t.same(vms[0].config.shares, [{ tag: 'vmpod:m1', path: cfgDir, readOnly: true }], 'the directory mount is a 9p share; the file mount is not');
  const files = execFileSync('isoinfo', ['-R', '-f', '-i', vmImagePodPaths(state, podId).cidata]).toString();
  t.match(files, /\/vendor-data/, 'the cidata disk has the vendor-data that mounts it');
  t.equal((await ctl.containerState(sb, c1)).state, 'running');
  t.equal(ctl.describeContainer(sb, c1).pid, 4242, "QEMU's pid");
  t.equal((await ctl.containerStats(sb, c1))?.cpuUsageNs, 5);
  await t.rejects(ctl.startContainer(sb, c1), /already started/);

  vms[0].powerOff('guest-shutdown');
  await new Promise((r) => setImmediate(r));
  t.doesNotThrow(() => ctl.checkContainer(sb, ctrConfig('vm', 1)), "kubelet's restart is accepted as soon as the VM ended (before its exit event)");
  await new Promise((r) => setTimeout(r, 600));
  const st = await ctl.containerState(sb, c1);
  t.same([st.state, st.exitCode, st.message], ['exited', 0, 'guest powered off']);
  t.same(
    events.map((e) => e.kind === 'container-exited' && [e.containerId, e.state.exitCode]),
    [['ctr1', 0]],
    'one container-exited event',
  );

  // kubelet's restart: attempt 1, same image: the same overlay boots again.
  const c2 = await create('ctr2', 1);
  t.equal(c2.data.overlayPlan, 'reuse');
  await ctl.startContainer(sb, c2);
  await ctl.stopContainer(sb, c2, 15, 30, silentLogger);
  t.same(vms[1].stops, [30_000], 'stop: the CRI timeout as the grace period');
  t.equal((await ctl.containerState(sb, c2)).exitCode, 0, 'powered off in time: exit 0');

  await ctl.removeContainer(sb, c1, silentLogger);
  await ctl.removeContainer(sb, c2, silentLogger);
  t.equal(destroyed.length, 4, 'each run dir and its link destroyed');
  await ctl.stopSandbox(sb, silentLogger);
  t.equal(await ctl.sandboxReady(sb), false, 'not ready once stopped');
  await ctl.removeSandbox(sb, silentLogger);
  t.notOk(existsSync(vmImagePodPaths(state, podId).dir), 'the pod dir is gone');
  await ctl.removeSandbox(sb, silentLogger);
  t.pass('a second removal succeeds');
  t.same(readdirSync(join(state, 'vm')), [], 'no run-dir links left');
  await ctl.close();
});
