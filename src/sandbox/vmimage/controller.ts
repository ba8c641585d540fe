// The vm-image implementation of SandboxController: each pod boots the disk
// its one container's image carries (a KubeVirt containerDisk) in a QEMU VM
// of its own. RunPodSandbox prepares the host side (pod.ts: pod dir, QEMU's
// uid, tap, cgroup); CreateContainer finds the disk and makes the overlay
// and the cloud-init disk (container.ts); StartContainer boots the VM
// (prepare.ts, vm.ts) with the serial console pumped into the container's
// CRI log (serial-console.ts); stats are the guest's memory and QEMU's
// cost (stats.ts);
// Exec goes through qemu-guest-agent when the guest runs it. The container
// is the VM: RUNNING while QEMU runs, EXITED when it ends.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { FailedPreconditionError, UnimplementedError } from '../../../common/errors';
import type { VmImageConfig, VmpodConfig } from '../../config/types';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig';
import { createHypervisor, QemuUidAllocator, RUN_FILES, type AccelKind, type Hypervisor } from '../../hypervisor';
import { silentLogger, type Logger } from '../../log';
import type { PodNamespaceModes } from '../../oci/input';
import type {
  CgroupStats,
  CheckpointOptions,
  ContainerCreateInput,
  ContainerCreateResult,
  ContainerHandle,
  ContainerProcessState,
  ControllerData,
  ControllerEvent,
  DebugInfo,
  Description,
  ExecResult,
  HandlerFeatureFlags,
  ProcessIO,
  SandboxController,
  SandboxCreateInput,
  SandboxHandle,
  StreamOptions,
} from '../controller';
import { networked } from '../controller';
import { removeVmRunDir } from '../microvm/run-dir';
import { Steps, type PhaseObserver } from '../steps';
import { checkVmImageContainer, checkVmImagePod } from './admission';
import { createVmImageContainer } from './container';
import { decodeVmImageContainerData, decodeVmImagePodData } from './data';
import { GuestAgent } from './guest-agent';
import { guestExec, guestExecSync } from './guest-exec';
import { containerRunPaths, readPodContainers, vmImagePodPaths } from './layout';
import { decodeOverlayRecord, OVERLAY_FILE, OVERLAY_RECORD } from './overlay';
import { createVmImagePod, removeVmImagePod, stopVmImagePod, type VmImageEnv } from './pod';
import { SerialConsole } from './serial-console';
import { vmImageContainerStats } from './stats';
import { ContainerVm } from './vm';
import { resolveVmImageAccel } from './accel';
import { connectGuestPort } from './port-forward';
import { prepareContainerVm } from './prepare';
import { vmCostStats } from '../vm-cost-stats';

export interface VmImageControllerOptions {
  /** The handler (RuntimeClass) name it serves. */
  handler: string;
  config: Pick<VmpodConfig, 'state' | 'root'>;
  /** This handler's settings. */
  vmImage: VmImageConfig;
  logger?: Logger;
  /** Default: the hypervisor factory's, with the configured QEMU binary. */
  hypervisor?: Hypervisor;
  /** Default: resolved once (accel = "auto" probes as the microvm handlers do, cached under <root>/microvm). */
  accel?: () => Promise<AccelKind>;
  /** null: no QEMU uids (QEMU as root without a jail; unit tests with a fake hypervisor). Default: the allocator shared with the microvm handlers. */
  uids?: QemuUidAllocator | null;
  phases?: PhaseObserver;
}

/** How long the VM of a pod being stopped or removed gets to power off (the container was stopped before, with kubelet's grace period). */
const POD_STOP_GRACE_MS = 5000;

export class VmImageController implements SandboxController {
  readonly handler: string;
  private readonly env: VmImageEnv;
  private readonly log: Logger;
  private readonly listeners: ((e: ControllerEvent) => void)[] = [];
  /** Container VMs this daemon started or reattached to, by container id. */
  private readonly vms = new Map<string, Promise<ContainerVm | undefined>>();
  /** The same, once settled: what the synchronous describe methods show. */
  private readonly held = new Map<string, ContainerVm>();
  /** Per pod, its container created and not yet exited (its VM created or running): a second one waits. */
  private readonly active = new Map<string, string>();
  private accelChoice: Promise<AccelKind> | undefined;

  constructor(opts: VmImageControllerOptions) {
    this.handler = opts.handler;
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'vm-image', handler: opts.handler });
    const uids = opts.uids === null ? undefined : (opts.uids ?? new QemuUidAllocator(join(opts.config.root, 'microvm', 'qemu-uids.json')));
    this.env = {
      state: opts.config.state,
      cfg: opts.vmImage,
      hypervisor: opts.hypervisor ?? createHypervisor(opts.vmImage, this.log),
      accel: () =>
        (this.accelChoice ??= (opts.accel ?? (() => resolveVmImageAccel(opts.handler, opts.vmImage, opts.config.root, this.log)))().catch((err: unknown) => {
          this.accelChoice = undefined;
          throw err;
        })),
      ...(uids ? { uids } : {}),
      phases: opts.phases,
    };
  }

  private emit(e: ControllerEvent): void {
    for (const l of this.listeners) l(e);
  }

  onEvent(listener: (e: ControllerEvent) => void): void {
    this.listeners.push(listener);
  }

  features(): HandlerFeatureFlags {
    return { userNamespaces: false, recursiveReadOnlyMounts: false };
  }

  checkPod(config: PodSandboxConfig__Output, namespaces: PodNamespaceModes): void {
    checkVmImagePod(this.handler, config, namespaces);
  }

  checkContainer(sb: SandboxHandle, config: ContainerConfig__Output): void {
    const paths = vmImagePodPaths(this.env.state, sb.id);
    let name: string | undefined;
    try {
      name = decodeOverlayRecord(readFileSync(join(paths.dir, OVERLAY_RECORD), 'utf8'))?.containerName;
    } catch {
      name = undefined; // no container yet
    }
    // A container whose VM has ended no longer holds the overlay, even before its exit event went out.
    const active = this.active.get(sb.id);
    const ended = active !== undefined && this.held.get(active)?.exit !== undefined;
    checkVmImageContainer(sb.id, config, { name, active: ended ? undefined : active });
  }

  // ---- the pod ----

  async createSandbox(input: SandboxCreateInput): Promise<ControllerData> {
    // The pod's tap is wired to the CNI veth: nothing is made before ADD is done.
    return { ...(await createVmImagePod(this.env, await networked(input))) };
  }

  /** Ready from RunPodSandbox until StopPodSandbox: the VM comes and goes with the container. */
  sandboxReady(sb: SandboxHandle): Promise<boolean> {
    const p = vmImagePodPaths(this.env.state, sb.id);
    return Promise.resolve(existsSync(p.dir) && !existsSync(p.stoppedMark));
  }

  /** Powers off whatever VM of the pod still runs (its container was stopped first, with kubelet's grace period), then the tap goes. */
  async stopSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    await this.stopPodVms(sb.id, POD_STOP_GRACE_MS, log);
    await stopVmImagePod(this.env, sb.id, sb.netnsPath, log);
  }

  async removeSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    await this.stopPodVms(sb.id, 0, log);
    await stopVmImagePod(this.env, sb.id, sb.netnsPath, log);
    await removeVmImagePod(this.env, sb.id, log);
    this.active.delete(sb.id);
    for (const v of [...this.held.values()]) if (v.podId === sb.id) this.forget(v.containerId);
  }

  /** Every VM of the pod's containers, held by this daemon or not, stopped; their console pumps and agent connections let go. */
  private async stopPodVms(podId: string, graceMs: number, log: Logger): Promise<void> {
    for (const cid of await readPodContainers(vmImagePodPaths(this.env.state, podId))) {
      const held = await this.vms.get(cid)?.catch(() => undefined);
      if (held) {
        await held.stop(graceMs);
        await held.release();
        continue;
      }
      const vm = await this.env.hypervisor.reconnect(containerRunPaths(this.env.state, cid).dir).catch(() => undefined);
      if (vm) {
        log.info({ containerId: cid }, 'powering off a VM of the pod this daemon had not reattached to');
        await vm.stop({ gracefulTimeoutMs: graceMs, quitTimeoutMs: 3000 });
      }
    }
  }

  /** The pod's running VM (its current container's), if this daemon holds it. */
  private podVm(podId: string): ContainerVm | undefined {
    return [...this.held.values()].find((v) => v.podId === podId && v.running);
  }

  /** The host's truth: QEMU's own cost, guest RAM included (its difference from the container's guest figures is the overhead). */
  sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null> {
    const cost = this.podVm(sb.id)?.vm?.hostStats();
    return Promise.resolve(cost ? vmCostStats(cost, decodeVmImagePodData(sb.data, sb.id).memoryMib) : null);
  }

  describeSandbox(sb: SandboxHandle): Description {
    const d = decodeVmImagePodData(sb.data, sb.id);
    const p = vmImagePodPaths(this.env.state, sb.id);
    // QEMU stands for the pod on the host while its container runs.
    return {
      pid: this.podVm(sb.id)?.vm?.pid ?? 0,
      podDir: p.dir,
      overlay: join(p.dir, OVERLAY_FILE),
      cidata: p.cidata,
      accel: d.accel,
      vcpus: d.vcpus,
      memoryMib: d.memoryMib,
      qemuUid: d.qemuUid ?? null,
      mac: d.network?.mac ?? null,
    };
  }

  /** To the pod IP, which is the guest's (port-forward.ts says why from the daemon's namespace). */
  async portForward(sb: SandboxHandle, port: number): Promise<Duplex> {
    const d = decodeVmImagePodData(sb.data, sb.id);
    const ip = d.network?.addresses.find((a) => a.family === 4)?.address ?? d.network?.addresses[0]?.address;
    if (!ip) throw new FailedPreconditionError(`pod ${sb.id}: port-forward to port ${port}: the pod has no IP address`);
    if (!this.podVm(sb.id)) throw new FailedPreconditionError(`pod ${sb.id}: port-forward to port ${port}: its VM is not running`);
    return connectGuestPort(sb.id, ip, port);
  }

  // ---- the container (the VM) ----

  async createContainer(input: ContainerCreateInput): Promise<ContainerCreateResult> {
    const pod = decodeVmImagePodData(input.sandbox.data, input.sandbox.id);
    const data = await createVmImageContainer(this.env, input, pod);
    this.active.set(input.sandbox.id, input.id);
    // The VM's processes are the guest's: no host identity; root is what a VM's console greets.
    // What the guest writes goes to the pod's overlay: ContainerStats reports its size as the writable layer.
    return { data: { ...data }, user: { uid: 0, gid: 0, additionalGids: [] }, writablePath: join(vmImagePodPaths(this.env.state, input.sandbox.id).dir, OVERLAY_FILE) };
  }

  /** The live VM of `c`, reattaching after a daemon restart; undefined while it was never started. */
  private live(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerVm | undefined> {
    let e = this.vms.get(c.id);
    if (!e) {
      e = this.reattach(sb, c);
      this.vms.set(c.id, e);
      e.catch(() => this.vms.delete(c.id));
    }
    return e;
  }

  private track(sb: SandboxHandle, c: ContainerHandle, vm: ContainerVm['vm'], log: Logger, run: ReturnType<typeof containerRunPaths>): ContainerVm {
    const live = vm
      ? { console: new SerialConsole({ socketPath: run.consoleSocket, logPath: c.logPath, log }), agent: new GuestAgent({ socketPath: run.guestAgentSocket, log, name: `container ${c.id}` }) }
      : {};
    live.console?.start();
    const v = new ContainerVm(sb.id, c.id, vm, live.console, live.agent, log, (state) => {
      if (this.active.get(sb.id) === c.id) this.active.delete(sb.id);
      this.emit({ kind: 'container-exited', containerId: c.id, state });
    });
    this.held.set(c.id, v);
    return v;
  }

  private forget(containerId: string): void {
    this.vms.delete(containerId);
    this.held.delete(containerId);
  }

  private async reattach(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerVm | undefined> {
    const run = containerRunPaths(this.env.state, c.id);
    // No launch record: StartContainer never got as far as QEMU.
    if (!existsSync(join(run.dir, RUN_FILES.launchRecord))) return undefined;
    const log = this.log.child({ podSandboxId: sb.id, containerId: c.id });
    const vm = await this.env.hypervisor.reconnect(run.dir).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, 'cannot reattach to the container VM');
      return undefined;
    });
    log.info({ alive: vm !== undefined, runDir: run.dir }, 'container VM reattached');
    return this.track(sb, c, vm, log, run);
  }

  async startContainer(sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    if (await this.live(sb, c)) throw new FailedPreconditionError(`container ${c.id}: its VM was already started`);
    const log = this.log.child({ podSandboxId: sb.id, containerId: c.id });
    const steps = new Steps(`VM-image container ${c.id} start`, log, { phases: this.env.phases && { operation: 'VM-image container start', observer: this.env.phases } });
    const { vm, run, pod, data } = await prepareContainerVm(this.env, sb, c, steps);
    const live = this.track(sb, c, vm, log, run);
    this.vms.set(c.id, Promise.resolve(live));
    try {
      await steps.run('qemu-start', () => vm.start());
    } catch (err) {
      this.forget(c.id);
      await live.release();
      throw err;
    }
    steps.done({ pid: vm.pid, firmware: data.firmware, disk: data.disk.name, overlay: data.overlayPlan, vcpus: data.vcpus, memoryMib: data.memoryMib, accel: pod.accel });
  }

  /** ACPI power button, the CRI timeout for the guest to power off, then quit and kill. The signal has no meaning for a VM. Idempotent. */
  async stopContainer(sb: SandboxHandle, c: ContainerHandle, _signal: number, timeoutS: number, log: Logger): Promise<void> {
    const v = await this.live(sb, c);
    if (!v?.running) {
      if (this.active.get(sb.id) === c.id) this.active.delete(sb.id);
      return;
    }
    log.info({ gracefulS: timeoutS }, 'powering the container VM off');
    await v.stop(Math.max(0, timeoutS) * 1000);
  }

  /** The console pump, the agent connection and the run dir (the overlay stays with the pod). Idempotent. */
  async removeContainer(sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void> {
    const v = await this.vms.get(c.id)?.catch(() => undefined);
    if (v) {
      await v.stop(0);
      await v.release();
    }
    this.forget(c.id);
    if (this.active.get(sb.id) === c.id) this.active.delete(sb.id);
    await removeVmRunDir(this.env.hypervisor, containerRunPaths(this.env.state, c.id));
    log.info('VM-image container removed');
  }

  async containerState(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState> {
    const v = await this.live(sb, c);
    return v ? v.state() : { state: 'created', exitCode: 0, finishedAt: '0', oomKilled: false };
  }

  private async running(sb: SandboxHandle, c: ContainerHandle, what: string): Promise<ContainerVm> {
    const v = await this.live(sb, c);
    if (!v?.running || !v.agent || !v.console) throw new FailedPreconditionError(`${what} in container ${c.id}: its VM is not running`);
    return v;
  }

  async execSync(sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
    const v = await this.running(sb, c, 'ExecSync');
    return guestExecSync(v.agent!, cmd, timeoutS, this.log.child({ podSandboxId: sb.id, containerId: c.id }));
  }

  async exec(sb: SandboxHandle, c: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    const v = await this.running(sb, c, 'Exec');
    return guestExec(v.agent!, cmd, opts, this.log.child({ podSandboxId: sb.id, containerId: c.id }));
  }

  /** The serial console, interactive (kubectl attach -it, virtctl console). */
  async attach(sb: SandboxHandle, c: ContainerHandle, opts: StreamOptions): Promise<ProcessIO> {
    const v = await this.running(sb, c, 'Attach');
    return v.console!.attach(opts, v.exited);
  }

  async reopenContainerLog(sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    const v = await this.live(sb, c);
    if (!v?.running || !v.console) throw new FailedPreconditionError(`ReopenContainerLog of container ${c.id}: its VM is not running`);
    await v.console.reopenLog();
  }

  updateContainer(_sb: SandboxHandle, c: ContainerHandle, _resources: LinuxContainerResources__Output): Promise<void> {
    return Promise.reject(new UnimplementedError(`UpdateContainerResources of container ${c.id}: a VM-image pod's VM keeps the size it booted with; recreate the pod with the new resources`));
  }

  checkpointContainer(_sb: SandboxHandle, c: ContainerHandle, _opts: CheckpointOptions): Promise<void> {
    return Promise.reject(new UnimplementedError(`CheckpointContainer of container ${c.id}: VM-image pods have no checkpoint (no VM snapshot yet)`));
  }

  /** Memory as the guest reports it through the balloon (stats.ts), CPU from QEMU. */
  async containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null> {
    const v = await this.live(sb, c);
    const cost = v?.running ? v.vm?.hostStats() : undefined;
    if (!cost) return null;
    return vmImageContainerStats(cost, await v?.vm?.guestMemory?.(), decodeVmImageContainerData(c.data, c.id).memoryMib);
  }

  describeContainer(_sb: SandboxHandle, c: ContainerHandle): Description {
    const d = decodeVmImageContainerData(c.data, c.id);
    const v = this.held.get(c.id);
    return {
      pid: v?.running ? (v.vm?.pid ?? 0) : 0,
      image: d.image,
      disk: d.disk,
      overlay: d.overlay,
      overlayPlan: d.overlayPlan,
      firmware: d.firmware,
      machine: d.machine,
      vcpus: d.vcpus,
      memoryMib: d.memoryMib,
      userData: d.userDataFrom,
      runDir: containerRunPaths(this.env.state, c.id).dir,
    };
  }

  async debugInfo(sb: SandboxHandle, consoleBytes: number): Promise<DebugInfo> {
    const d = decodeVmImagePodData(sb.data, sb.id);
    const v = this.podVm(sb.id);
    return {
      isolation: 'QEMU VM booted from the image disk',
      facts: {
        qemuPid: v?.vm?.pid ?? null,
        running: v !== undefined,
        container: v?.containerId ?? null,
        accel: d.accel,
        vcpus: d.vcpus,
        memoryMib: d.memoryMib,
        podDir: vmImagePodPaths(this.env.state, sb.id).dir,
        runDir: v ? containerRunPaths(this.env.state, v.containerId).dir : null,
      },
      consoleTail: consoleBytes > 0 ? (v?.console?.tail(consoleBytes) ?? '') : '',
    };
  }

  /**
   * What a create cut short by a daemon crash may have left, from the id
   * alone: a pod's VMs, uid, cgroup and dir (its tap goes with its netns in
   * the network layer's reconcile); a container's run dir (its overlay and
   * cidata belong to the pod). Idempotent.
   */
  async purgeInterrupted(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void> {
    if (kind === 'sandbox') {
      await removeVmImagePod(this.env, id, log);
      this.active.delete(id);
    } else {
      const v = await this.vms.get(id)?.catch(() => undefined);
      await v?.release();
      this.forget(id);
      await removeVmRunDir(this.env.hypervisor, containerRunPaths(this.env.state, id));
    }
    log.info({ kind, id }, 'removed what an interrupted create left');
  }

  /** Daemon shutdown: drop QMP, console and agent connections; the VMs run on. */
  async close(): Promise<void> {
    for (const e of this.vms.values()) await (await e.catch(() => undefined))?.detach();
    this.vms.clear();
    this.held.clear();
  }
}
