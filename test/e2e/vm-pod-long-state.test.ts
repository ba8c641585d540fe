// A VM pod whose daemon has a 60-character state dir (regression: RunPodSandbox
// failed with "unix socket path .../state/vm/<id>/qmp.sock is 108 bytes"),
// through the CRI API as in vm-pod.test.ts (real gRPC server and handlers,
// the microvm controller, a local docker-registry, CNI bridge networking in
// a throw-away netns). One VM boot: the pod starts, a container logs, a
// restarted daemon (new controller and CRI server over the same root and
// state) finds the VM and its agent again, and after RemovePodSandbox nothing
// of the pod is left: no QEMU, run dir, link, mount or state file.
//
// Then, with QEMUs started paused without a kernel (no boot): a pod recorded
// by the previous layout (run dir at <state>/vm/<id>) is reattached and
// removed, and neither a failed create nor the purge of a create cut short
// by a crash leaves a run dir behind.

import t from 'tap';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PodSandboxConfig, PodSandboxConfig__Output } from '../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { QemuHypervisor } from '../../src/hypervisor/qemu';
import { processStartTime } from '../../src/hypervisor/qemu/proc';
import { MAX_UNIX_SOCKET_PATH } from '../../src/hypervisor/qemu/validate';
import { readHostFacts } from '../../src/host/facts';
import type { SandboxHandle } from '../../src/sandbox/controller';
import { MicrovmController } from '../../src/sandbox/microvm/controller';
import { podPaths, VM_RUN_BASE, vmRunPaths } from '../../src/sandbox/microvm/layout';
import { makeVmRunDir } from '../../src/sandbox/microvm/run-dir';
import type { VmPodData } from '../../src/sandbox/microvm/data';
import type { CriClient } from '../helpers/cri-client';
import { QEMU, vmE2e, vmE2eGuest } from '../helpers/vm-e2e';

const guest = vmE2eGuest();

// One VM boot under TCG plus a paused QEMU on a loaded 2-core machine.
t.setTimeout(10 * 60_000);

/** Exists as itself (a dangling symlink counts). */
function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

const mountinfo = (): string => readFileSync('/proc/self/mountinfo', 'utf8');

if ('missing' in guest) {
  t.fail(`VM pod long-state e2e test cannot run: ${guest.missing}`);
} else {
  // Exactly 60 characters: the previous layout's agent socket would have been 60 + 79 = 139 bytes.
  const world = vmE2e({
    guest,
    tmpPrefix: 'vpl-',
    netnsPrefix: 'vmpod-longstate-',
    cniName: 'vmpodls',
    subnet: '10.88.93.0/24',
    defaultRoute: false,
    state: (dir) => join(dir, 'state-'.padEnd(60 - dir.length - 1, 'x')),
    imageTag: 'ls',
    namespace: 'e2e-ls',
  });
  const { dir, cfg, vmCfg, logDir, log, podConfig, containerConfig } = world;
  const state = cfg.state;

  t.before(() => world.start());

  t.teardown(() => world.teardown((s) => t.comment(s)));

  async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Run a container to its end and return its CRI log once `want` is in it. */
  async function runToLog(client: CriClient, podId: string, pod: PodSandboxConfig, name: string, command: string[], want: string): Promise<{ exitCode: number; log: string }> {
    const { container_id } = await client.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(name, command), sandbox_config: pod }, 60_000);
    await client.runtime.StartContainer({ container_id }, 60_000);
    const st = await until(`container ${name} to exit`, 60_000, async () => {
      const { status } = await client.runtime.ContainerStatus({ container_id });
      return status?.state === 'CONTAINER_EXITED' ? status : undefined;
    });
    const path = join(logDir, pod.metadata!.name!, `${name}.log`);
    const text = await until(`${name}'s log`, 20_000, async () => {
      const s = existsSync(path) ? readFileSync(path, 'utf8') : '';
      return s.includes(want) ? s : undefined;
    });
    return { exitCode: st.exit_code, log: text };
  }

  t.test('a VM pod starts, logs, is reattached after a restart and leaves nothing, with a 60-character state dir', async (t) => {
    t.equal(state.length, 60, `state dir ${state} has 60 characters`);
    const pod = podConfig('longstate');
    const { pod_sandbox_id: id } = await world.daemon().client.runtime.RunPodSandbox({ config: pod }, 300_000);
    const st = await world.daemon().client.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
    t.equal(st.status?.state, 'SANDBOX_READY', 'RunPodSandbox succeeded: VM pod ready');
    const data = JSON.parse(st.info.info ?? '{}') as VmPodData;
    const run = vmRunPaths(state, id);
    t.ok(Buffer.byteLength(`${state}/vm/${id}/agent.sock`) > MAX_UNIX_SOCKET_PATH, 'the previous layout would not have fit');

    t.equal(data.vmRunDir, run.dir, `the run dir is ${run.dir}`);
    t.ok(run.dir.startsWith(`${VM_RUN_BASE}/`), `under ${VM_RUN_BASE}`);
    const rd = statSync(run.dir);
    t.same({ uid: rd.uid, mode: rd.mode & 0o7777 }, { uid: 0, mode: 0o700 }, 'run dir owned by root, 0700');
    t.equal(statSync(VM_RUN_BASE).mode & 0o7777, 0o700, `${VM_RUN_BASE} is 0700`);
    for (const s of [run.qmpSocket, run.agentSocket]) t.ok(statSync(s).isSocket(), `${s} is a listening socket (${Buffer.byteLength(s)} bytes)`);
    t.same(data.agent, { transport: 'serial', socketPath: run.agentSocket }, 'the record names the agent socket in the run dir');
    t.equal(readlinkSync(run.stateLink), run.dir, '<state>/vm/<id> links to the run dir');
    const cmdline = readFileSync(`/proc/${data.pid}/cmdline`, 'utf8');
    t.ok(cmdline.includes(`unix:${run.qmpSocket},`), 'QEMU serves QMP in the run dir');
    t.ok(cmdline.includes(`path=${run.agentSocket},`), 'and the agent channel');

    const first = await runToLog(world.daemon().client, id, pod, 'hello', ['/bin/sh', '-c', 'echo hello-from-long-state'], 'hello-from-long-state');
    t.equal(first.exitCode, 0, 'a container in the VM ran and exited 0');
    t.match(first.log, /^\S+ stdout F hello-from-long-state$/m, 'its output is in the CRI log');
    const { container_id: sleeper } = await world
      .daemon()
      .client.runtime.CreateContainer({ pod_sandbox_id: id, config: containerConfig('sleeper', ['/bin/busybox', 'sleep', '3600']), sandbox_config: pod }, 60_000);
    await world.daemon().client.runtime.StartContainer({ container_id: sleeper }, 60_000);

    // A daemon restart: everything in memory goes, the VM stays; the new one has only the records.
    const current = await world.restartDaemon();
    const again = await current.client.runtime.PodSandboxStatus({ pod_sandbox_id: id });
    t.equal(again.status?.state, 'SANDBOX_READY', 'the restarted daemon finds the VM (QMP in the run dir), still ready');
    const ex = await current.client.runtime.ExecSync({ container_id: sleeper, cmd: ['/bin/busybox', 'echo', 'still-here'], timeout: 60 }, 90_000);
    t.equal(Buffer.from(ex.stdout).toString(), 'still-here\n', 'and its agent (socket in the run dir): ExecSync works');
    const second = await runToLog(current.client, id, pod, 'after', ['/bin/sh', '-c', 'echo after-restart'], 'after-restart');
    t.equal(second.exitCode, 0, 'a container started after the restart ran');
    t.match(second.log, / stdout F after-restart$/m, 'and logged');

    await current.client.runtime.StopPodSandbox({ pod_sandbox_id: id }, 120_000);
    await current.client.runtime.RemovePodSandbox({ pod_sandbox_id: id }, 120_000);
    t.notOk(existsSync(`/proc/${data.pid}`), 'no QEMU process');
    t.notOk(present(run.dir), 'no run dir (QMP and agent sockets, console log, launch record)');
    t.notOk(present(run.stateLink), 'no link in the state dir');
    t.same(readdirSync(join(state, 'vm')), [], 'nothing under <state>/vm');
    t.notOk(existsSync(podPaths(state, id).dir), 'no pod dir');
    t.notOk(existsSync(data.netnsPath), 'no pod netns');
    t.notOk(mountinfo().includes(id), 'no mount of the pod');
  });

  t.test('a pod recorded by the previous layout is reattached and removed', async (t) => {
    // A short state dir: the previous layout put the sockets under it, so its records exist only for such dirs.
    const oldState = join(dir, 'o');
    const id = `0ld${'0'.repeat(61)}`;
    const legacyRunDir = join(oldState, 'vm', id);
    const hv = new QemuHypervisor({ qemuBinary: QEMU, qmpTimeoutMs: 20_000 });
    const agentSocket = join(legacyRunDir, 'agent.sock');
    const vm = await hv.start({ id, runDir: legacyRunDir, accel: 'tcg', vcpus: 1, memoryMib: 128, paused: true, agent: { transport: 'serial', socketPath: agentSocket } });
    t.teardown(() => {
      try {
        process.kill(vm.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    vm.detach(); // the old daemon is gone
    // As the version 1 layout wrote it (with its type tag and no version).
    const data = { type: 'microvm', podDir: podPaths(oldState, id).dir, vmRunDir: legacyRunDir, netnsPath: '', tapName: '', agent: { transport: 'serial', socketPath: agentSocket }, pid: vm.pid };
    const handle = { id, data } as unknown as SandboxHandle;

    const ctl = new MicrovmController({ handler: 'vm', config: { ...cfg, state: oldState }, microvm: vmCfg, host: readHostFacts(), logger: log });
    t.equal(await ctl.sandboxReady(handle), true, "reattached to the running QEMU through the record's run dir of the previous layout");
    t.notOk(present(vmRunPaths(oldState, id).dir), 'and made nothing in the new place');
    await ctl.removeSandbox(handle, log);
    // This test started the QEMU, so until Node reaps it an exited QEMU is this process's zombie: /proc/<pid> still exists
    // (a real restarted daemon is not its parent). Running means a /proc entry that is not a zombie.
    t.equal(processStartTime(vm.pid), undefined, 'RemovePodSandbox stopped its QEMU');
    t.notOk(present(legacyRunDir), 'and removed its run dir in the old place');
  });

  t.test('a failed create and the purge of an interrupted one leave no run dir', async (t) => {
    const input = (id: string) => ({
      id,
      config: podConfig(id.slice(0, 8)) as unknown as PodSandboxConfig__Output,
      namespaces: { network: 'POD' as const, pid: 'POD' as const, ipc: 'POD' as const },
      hostname: 'h',
      netnsPath: '',
      ips: [],
      log,
    });
    const failing = `fa11${'0'.repeat(60)}`;
    const broken = new MicrovmController({ handler: 'vm', config: cfg, microvm: { ...vmCfg, qemu_binary: '/nonexistent/qemu-system-x86_64' }, host: readHostFacts(), logger: log });
    const err = await broken.createSandbox(input(failing)).then(
      () => undefined,
      (e: Error) => e,
    );
    t.match(err?.message ?? 'no error', /qemu-start failed/, 'create fails in qemu-start');
    t.notOk(present(vmRunPaths(state, failing).dir), 'rollback removed the run dir');
    t.notOk(present(vmRunPaths(state, failing).stateLink), 'and its link');

    // A daemon killed between spawning QEMU and writing its launch record: only the pidfile knows the process.
    const crashed = `c4a5${'0'.repeat(60)}`;
    const run = vmRunPaths(state, crashed);
    await makeVmRunDir(run);
    const hv = new QemuHypervisor({ qemuBinary: QEMU, qmpTimeoutMs: 20_000 });
    const vm = await hv.start({ id: crashed, runDir: run.dir, accel: 'tcg', vcpus: 1, memoryMib: 128, paused: true, agent: { transport: 'serial', socketPath: run.agentSocket } });
    t.teardown(() => {
      try {
        process.kill(vm.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    vm.detach();
    rmSync(join(run.dir, 'vm.json'));
    const ctl = new MicrovmController({ handler: 'vm', config: cfg, microvm: vmCfg, host: readHostFacts(), logger: log });
    await ctl.purgeInterrupted('sandbox', crashed, log);
    t.equal(processStartTime(vm.pid), undefined, 'the purge killed its QEMU (found by the pidfile in the run dir)');
    t.notOk(present(run.dir), 'and removed the run dir');
    t.notOk(present(run.stateLink), 'and its link');
  });
}
