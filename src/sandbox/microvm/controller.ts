// The microvm implementation of SandboxController: untrusted pods, each in
// its own QEMU VM (start.ts, pod-vm.ts), their containers run by the guest
// agent (containers.ts). The pod domain does CNI before createSandbox and
// after stopSandbox; this controller owns everything between: the share,
// the tap, the VM, the agent. One controller serves one handler, with that
// handler's VM settings.

import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { FailedPreconditionError, UnimplementedError } from '../../../common/errors';
import type { MicrovmConfig, VmpodConfig } from '../../config/types';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig';
import { findGuestImage } from '../../host/guest-image';
import { ksmState, memoryMergeDecision } from '../../host/ksm';
import { CidAllocator, createHypervisor, QemuUidAllocator, resolveVmHost, type Hypervisor } from '../../hypervisor';
import { silentLogger, type Logger } from '../../log';
import type { HostFacts, PodNamespaceModes } from '../../oci/input';
import type {
  CgroupStats,
  CheckpointOptions,
  ContainerCreateInput,
  ContainerCreateResult,
  ContainerHandle,
  ContainerProcessState,
  ControllerData,
  AgentLogRead,
  ControllerEvent,
  DebugInfo,
  DebugProcessOptions,
  Description,
  ExecResult,
  HandlerFeatureFlags,
  PodResourcesUpdate,
  ProcessIO,
  SandboxController,
  SandboxCreateInput,
  SandboxHandle,
  StreamOptions,
} from '../controller';
import { checkVmContainer, checkVmPod } from './admission';
import { PodContainers, releaseContainerDirs } from './pod-containers';
import { decodeVmContainerData, decodeVmPodData } from './data';
import { podPaths, sharePath } from './layout';
import { describeExit, reattachPodVm, removePodVm, stopPodVm, type PodVm, type PodVmEnv, type VmHostChoice } from './pod-vm';
import { openDebugProcess } from './debug-process';
import { openGuestPort } from './port-forward';
import { resizePodVm } from './resize';
import { VmPool } from './pool';
import { ImageUserFilesCache } from '../runc/rootfs-read';
import { startPodVm } from './start';
import type { PhaseObserver } from '../steps';
import { vmCostStats } from '../vm-cost-stats';

export interface MicrovmControllerOptions {
  /** The handler (RuntimeClass) name it serves. */
  handler: string;
  config: Pick<VmpodConfig, 'state' | 'root'> & Partial<Pick<VmpodConfig, 'debug'>>;
  /** This handler's VM settings. */
  microvm: MicrovmConfig;
  /** The host's facts (files CRI mounts and seccomp profiles name are checked on the host). */
  host: HostFacts;
  logger?: Logger;
  /** Default: the hypervisor factory's, with the configured QEMU binary. */
  hypervisor?: Hypervisor;
  /** Default: resolved once from config (accel probe cached under `<root>/microvm`) and the guest image. */
  vmHost?: () => Promise<VmHostChoice>;
  phases?: PhaseObserver;
  agentCallTimeoutMs?: number;
}

interface PodEntry {
  vm: PodVm;
  containers: PodContainers;
}

export class MicrovmController implements SandboxController {
  readonly handler: string;
  private readonly env: PodVmEnv;
  private readonly log: Logger;
  private readonly pods = new Map<string, Promise<PodEntry>>();
  private readonly listeners: ((e: ControllerEvent) => void)[] = [];
  private readonly userFiles = new ImageUserFilesCache();
  private hostChoice: Promise<VmHostChoice> | undefined;
  private readonly pool: VmPool;

  constructor(private readonly opts: MicrovmControllerOptions) {
    const { config, microvm } = opts;
    this.handler = opts.handler;
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'microvm', handler: opts.handler });
    this.env = {
      state: config.state,
      microvm,
      hypervisor: opts.hypervisor ?? createHypervisor(microvm, this.log),
      host: () =>
        (this.hostChoice ??= (opts.vmHost ?? (() => this.resolveHost()))().catch((err: unknown) => {
          this.hostChoice = undefined; // a later pod may find a fixed host (e.g. the guest image built meanwhile)
          throw err;
        })),
      cids: new CidAllocator(join(config.root, 'microvm', 'vsock-cids.json')),
      uids: new QemuUidAllocator(join(config.root, 'microvm', 'qemu-uids.json')),
      agentCallTimeoutMs: opts.agentCallTimeoutMs ?? 30_000,
      phases: opts.phases,
      debugProcesses: config.debug?.guest_shell === true,
    };
    // Opt-in pre-booted VMs (pool.ts), booted at daemon start after removing what a killed daemon's pool left
    // (also with pool_size 0: a pool turned off after a kill leaves nothing running).
    this.pool = new VmPool(this.env, opts.handler, microvm.pool_size ?? 0, this.log);
    void this.pool.start();
  }

  private async resolveHost(): Promise<VmHostChoice> {
    const { microvm } = this.opts;
    const found = findGuestImage(microvm.guest_dir);
    if ('missing' in found) throw new FailedPreconditionError(`no usable guest image for VM handler "${this.handler}": ${found.missing}`);
    const support = await resolveVmHost(microvm, {
      kernel: join(found.dir, found.manifest.parts.vmlinux.file),
      cacheFile: join(this.opts.config.root, 'microvm', 'accel.json'),
      logger: this.log,
      configKey: `runtime.handlers.${this.handler}`,
    });
    this.log.info({ accel: support.accel, agentTransport: support.agentTransport, guest: found.hash, agent: found.manifest.agent }, 'VM host support resolved');
    if (found.manifest.agent !== 'bundle') this.log.warn({ guest: found.dir }, 'the guest image carries no agent bundle; VM pods will time out in agent-connect');
    const merge = memoryMergeDecision(this.handler, microvm.memory_merge, ksmState());
    if (merge.warn) this.log.warn(merge.line);
    return { accel: support.accel.accel, transport: support.agentTransport.transport, guest: found };
  }

  private emit(e: ControllerEvent): void {
    for (const l of this.listeners) l(e);
  }

  private track(vm: PodVm): PodEntry {
    vm.onExit((e) => {
      if (!vm.detached) this.emit({ kind: 'sandbox-died', podSandboxId: vm.id, reason: describeExit(e) });
    });
    return { vm, containers: new PodContainers({ state: this.env.state, host: this.opts.host, log: this.log, emit: (e) => this.emit(e), userFiles: this.userFiles }, vm) };
  }

  /** The live pod, reattaching to its VM after a daemon restart. */
  private entry(sb: SandboxHandle): Promise<PodEntry> {
    let e = this.pods.get(sb.id);
    if (!e) {
      e = reattachPodVm(this.env, sb, this.log.child({ podSandboxId: sb.id })).then((vm) => this.track(vm));
      this.pods.set(sb.id, e);
      e.catch(() => this.pods.delete(sb.id));
    }
    return e;
  }

  onEvent(listener: (e: ControllerEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once the handler's pool of pre-booted VMs (pool.ts) has no VM booting; at once without a pool. */
  async poolSettled(): Promise<void> {
    await this.pool.settled();
  }

  /** Daemon shutdown: drop QMP and agent connections, leave the VMs running. */
  async close(): Promise<void> {
    await this.pool.close();
    for (const e of this.pods.values()) (await e.catch(() => undefined))?.vm.detach();
    this.pods.clear();
  }

  checkPod(_config: PodSandboxConfig__Output, namespaces: PodNamespaceModes): void {
    checkVmPod(this.handler, namespaces);
  }

  checkContainer(_sb: SandboxHandle, config: ContainerConfig__Output): void {
    checkVmContainer(config);
  }

  async createSandbox(input: SandboxCreateInput): Promise<ControllerData> {
    // Both wait for CNI ADD only where they need the pod's network (the VM's tap is wired to its veth):
    // a cold start makes its shares, cgroup and run dir meanwhile.
    const fromPool = await this.pool.startPod(input).catch((err: unknown) => {
      input.log.warn({ err: (err as Error).message }, 'pod VM from the pool failed; starting it cold');
      return undefined;
    });
    const vm = fromPool ?? (await startPodVm(this.env, input));
    this.pods.set(input.id, Promise.resolve(this.track(vm)));
    return { ...vm.data };
  }

  async sandboxReady(sb: SandboxHandle): Promise<boolean> {
    return (await this.entry(sb)).vm.alive;
  }

  async stopSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    await stopPodVm((await this.entry(sb)).vm, log);
  }

  async removeSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    const e = await this.entry(sb);
    await stopPodVm(e.vm, log);
    await removePodVm(this.env, sb.id, log);
    this.pods.delete(sb.id);
  }

  /** The VM's cost on the host: QEMU's CPU time (all vCPUs) and resident memory. */
  async sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null> {
    const { vm } = await this.entry(sb);
    const cost = vm.alive ? vm.vm?.hostStats() : undefined;
    return cost ? vmCostStats(cost, vm.data.memoryMib) : null;
  }

  describeSandbox(sb: SandboxHandle): Description {
    const d = decodeVmPodData(sb.data, sb.id);
    // QEMU stands for the pod on the host.
    return {
      pid: d.pid,
      podDir: d.podDir,
      vmRunDir: d.vmRunDir,
      consoleLog: d.consoleLog,
      vcpus: d.vcpus,
      memoryMib: d.memoryMib,
      accel: d.accel,
      agent: d.agent,
      guestHash: d.guestHash,
      startPhasesMs: d.startPhasesMs,
    };
  }

  /** The pod's live side if this daemon holds it now; never reattaches (the admin socket takes no pod lock, and a reattach racing a remove would leave an entry behind). */
  private async held(id: string): Promise<PodEntry | undefined> {
    return this.pods.get(id)?.catch(() => undefined);
  }

  /**
   * For `vmpod vm` and `vmpod console`: the live QEMU's pid (none once it
   * ended), how the VM was started, and the console tail QEMU's ring was
   * drained into. Nothing is asked of QEMU or the guest. A pod this daemon
   * has not reattached to yet (after a restart, until a CRI call touches it)
   * shows its recorded pid and no console.
   */
  async debugInfo(sb: SandboxHandle, consoleBytes: number): Promise<DebugInfo> {
    const d = decodeVmPodData(sb.data, sb.id);
    const vm = (await this.held(sb.id))?.vm;
    const live = vm?.alive && !vm.detached ? vm.vm : undefined;
    return {
      isolation: 'QEMU VM',
      facts: {
        qemuPid: vm ? (live?.pid ?? null) : d.pid,
        running: vm ? live !== undefined : 'not attached yet',
        exit: vm?.exit ? describeExit(vm.exit) : null,
        accel: d.accel,
        agentTransport: d.agent.transport,
        cid: d.agent.transport === 'vsock' ? d.agent.cid : null,
        agentSocket: d.agent.transport === 'serial' ? d.agent.socketPath : null,
        vcpus: d.vcpus,
        memoryMib: d.memoryMib,
        guestHash: d.guestHash,
        vmRunDir: d.vmRunDir,
        consoleLog: d.consoleLog,
      },
      consoleTail: consoleBytes > 0 ? (vm?.vm?.consoleTail(consoleBytes) ?? '') : '',
    };
  }

  /** The agent's log ring, through the agent connection this controller already holds. */
  async agentLog(sb: SandboxHandle, sinceSeq: number): Promise<AgentLogRead> {
    const vm = (await this.held(sb.id))?.vm;
    if (!vm) throw new FailedPreconditionError(`pod ${sb.id}: this daemon has not reattached to its VM yet (a CRI call on the pod does)`);
    if (!vm.alive || vm.detached) throw new FailedPreconditionError(`pod ${sb.id}: its VM is not running`);
    const res = await vm.agent.readAgentLog({ since_seq: sinceSeq }, { timeoutMs: 10_000 });
    return {
      lines: res.lines.map((l) => ({ seq: Number(l.seq), timeUnixNano: String(l.time_unix_nano), level: l.level, msg: l.msg })),
      nextSeq: Number(res.next_seq),
      dropped: Number(res.dropped),
    };
  }

  /** `vmpod debug`: a process in the guest itself, through the agent connection this controller holds (debug-process.ts). */
  async debugProcess(sb: SandboxHandle, argv: string[], opts: DebugProcessOptions): Promise<ProcessIO> {
    const vm = (await this.held(sb.id))?.vm;
    if (!vm) throw new FailedPreconditionError(`pod ${sb.id}: this daemon has not reattached to its VM yet (a CRI call on the pod does)`);
    if (!vm.alive || vm.detached) throw new FailedPreconditionError(`pod ${sb.id}: its VM is not running`);
    return openDebugProcess(vm, argv, opts);
  }

  /** Through the agent, to the guest's own loopback: a port bound only to 127.0.0.1 in the pod is reachable. */
  async portForward(sb: SandboxHandle, port: number): Promise<Duplex> {
    const { vm } = await this.entry(sb);
    if (!vm.alive || vm.detached) throw new FailedPreconditionError(`pod ${sb.id}: its VM is not running`);
    return openGuestPort(vm.agent, port, { podId: sb.id });
  }

  async createContainer(input: ContainerCreateInput): Promise<ContainerCreateResult> {
    return (await this.entry(input.sandbox)).containers.create(input);
  }

  async startContainer(sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    await (await this.entry(sb)).containers.start(c);
  }

  async stopContainer(sb: SandboxHandle, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void> {
    await (await this.entry(sb)).containers.stop(c, signal, timeoutS, log);
  }

  async removeContainer(sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void> {
    await (await this.entry(sb)).containers.remove(c, log);
  }

  async containerState(sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState> {
    return (await this.entry(sb)).containers.state(c);
  }

  async execSync(sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
    return (await this.entry(sb)).containers.exec(c, cmd, timeoutS);
  }

  async updateContainer(sb: SandboxHandle, c: ContainerHandle, resources: LinuxContainerResources__Output): Promise<void> {
    await (await this.entry(sb)).containers.update(c, resources);
  }

  /** The VM grows or shrinks in place (resize.ts). */
  async updateSandboxResources(sb: SandboxHandle, u: PodResourcesUpdate, log: Logger): Promise<void> {
    await resizePodVm((await this.entry(sb)).vm, sb, u, { baseVcpus: this.opts.microvm.vcpus, baseMemoryMib: this.opts.microvm.memory_mib }, log);
  }

  /** Through the agent (exec-stream.ts): backpressure reaches the process in the guest. */
  async exec(sb: SandboxHandle, c: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    return (await this.entry(sb)).containers.execStream(c, cmd, opts);
  }

  /** The container's own stdio, fanned out from its log pumps (attach-stream.ts). */
  async attach(sb: SandboxHandle, c: ContainerHandle, opts: StreamOptions): Promise<ProcessIO> {
    return (await this.entry(sb)).containers.attach(c, opts);
  }

  /** vmpod writes a VM container's log itself, from the agent's output stream. */
  async reopenContainerLog(sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    await (await this.entry(sb)).containers.reopenLog(c);
  }

  features(): HandlerFeatureFlags {
    return { userNamespaces: false, recursiveReadOnlyMounts: false };
  }

  checkpointContainer(_sb: SandboxHandle, c: ContainerHandle, _opts: CheckpointOptions): Promise<void> {
    return Promise.reject(
      new UnimplementedError(`CheckpointContainer of container ${c.id}: VM pods have no checkpoint (no VM-level snapshot yet, and CRIU is not in the guest image); see docs/checkpoint.md`),
    );
  }

  async containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null> {
    return (await this.entry(sb)).containers.stats(c);
  }

  describeContainer(_sb: SandboxHandle, c: ContainerHandle): Description {
    // The process lives in the guest: no host pid.
    return { pid: 0, shareDir: decodeVmContainerData(c.data, c.id).shareDir };
  }

  /**
   * What a create cut short by a daemon crash left, knowing only the id: for
   * a pod its VM (killed by the PID in its launch record), run dir, CID, share
   * and files (its netns, and so its tap, go with the network layer's
   * reconcile); for a container its mounts in whichever pod share holds them
   * (a guest-side leftover goes with its VM). Idempotent.
   */
  async purgeInterrupted(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void> {
    if (kind === 'sandbox') {
      const e = this.pods.get(id);
      this.pods.delete(id);
      (await e?.catch(() => undefined))?.vm.detach();
      await removePodVm(this.env, id, log);
    } else {
      const root = join(this.env.state, 'sandboxes');
      for (const pod of await readdir(root).catch(() => [] as string[])) {
        const p = podPaths(this.env.state, pod);
        const rel = sharePath.containerDir(id);
        if (existsSync(join(p.shareSource, rel)) || existsSync(join(p.volumeSource, rel))) await releaseContainerDirs(p, rel);
      }
    }
    log.info({ kind, id }, 'removed what an interrupted create left');
  }
}
