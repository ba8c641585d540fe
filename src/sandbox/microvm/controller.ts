// The microvm implementation of SandboxController: untrusted pods, each in
// its own QEMU VM (pod-vm.ts), their containers run by the guest agent
// (containers.ts). The CRI layer does CNI before createSandbox and after
// stopSandbox; this controller owns everything between: the share, the tap,
// the VM, the agent.
//
// The daemon constructs one:  new MicrovmController({ config, host, logger })
// and registers it with createControllers({ ..., extra: [controller] }).

import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { VmpodConfig } from '../../config/types';
import { FailedPreconditionError } from '../../../common/errors';
import { findGuestImage } from '../../host/guest-image';
import { resolveVmHost } from '../../hypervisor/host-support';
import type { Hypervisor } from '../../hypervisor/hypervisor';
import { QemuHypervisor } from '../../hypervisor/qemu';
import { CidAllocator } from '../../hypervisor/vsock-cid';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import { silentLogger, type Logger } from '../../log';
import type { HostFacts } from '../../oci/input';
import type {
  CgroupStats, ContainerCreateInput, ContainerHandle, ContainerProcessState, ContainerRuntimeData, ExecResult,
  SandboxController, SandboxCreateInput, SandboxHandle, SandboxRuntimeData,
} from '../controller';
import { PodContainers } from './containers';
import { reattachPodVm, removePodVm, startPodVm, stopPodVm, type PodVm, type PodVmEnv, type VmHostChoice, type VmPodData } from './pod-vm';
import { podPaths, sharePath } from './layout';
import { openGuestPort } from './port-forward';
import { releaseDir } from './share';
import { readProcessCost } from './qemu-stats';

export interface MicrovmControllerOptions {
  config: Pick<VmpodConfig, 'state' | 'root' | 'microvm'>;
  /** The host's facts (files CRI mounts and seccomp profiles name are checked on the host). */
  host: HostFacts;
  logger?: Logger;
  /** Default: QEMU with the configured binary. */
  hypervisor?: Hypervisor;
  /** Default: resolved once from config (accel probe cached under `<root>/microvm`) and the guest image. */
  vmHost?: () => Promise<VmHostChoice>;
  agentCallTimeoutMs?: number;
}

interface PodEntry {
  vm: PodVm;
  containers: PodContainers;
}

export class MicrovmController implements SandboxController {
  readonly type = 'microvm' as const;
  private readonly env: PodVmEnv;
  private readonly log: Logger;
  private readonly pods = new Map<string, Promise<PodEntry>>();
  private hostChoice: Promise<VmHostChoice> | undefined;

  constructor(private readonly opts: MicrovmControllerOptions) {
    const { config } = opts;
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'microvm' });
    const hypervisor = opts.hypervisor ?? new QemuHypervisor({ qemuBinary: config.microvm.qemu_binary, logger: this.log });
    this.env = {
      state: config.state,
      microvm: config.microvm,
      hypervisor,
      host: () => (this.hostChoice ??= (opts.vmHost ?? (() => this.resolveHost()))().catch((err: unknown) => {
        this.hostChoice = undefined; // a later pod may find a fixed host (e.g. the guest image built meanwhile)
        throw err;
      })),
      cids: new CidAllocator(join(config.root, 'microvm', 'vsock-cids.json')),
      agentCallTimeoutMs: opts.agentCallTimeoutMs ?? 30_000,
    };
  }

  private async resolveHost(): Promise<VmHostChoice> {
    const { microvm, root } = this.opts.config;
    const found = findGuestImage(microvm.guest_dir);
    if ('missing' in found) throw new FailedPreconditionError(`no usable guest image for VM pods: ${found.missing}`);
    const support = await resolveVmHost(microvm, { kernel: join(found.dir, found.manifest.parts.vmlinux.file), cacheFile: join(root, 'microvm', 'accel.json'), logger: this.log });
    this.log.info({ accel: support.accel, agentTransport: support.agentTransport, guest: found.hash, agent: found.manifest.agent }, 'VM host support resolved');
    if (found.manifest.agent !== 'bundle') this.log.warn({ guest: found.dir }, 'the guest image carries no agent bundle; VM pods will time out in agent-connect');
    return { accel: support.accel.accel, transport: support.agentTransport.transport, guest: found };
  }

  /** The live pod, reattaching to its VM after a daemon restart. */
  private entry(sb: SandboxHandle): Promise<PodEntry> {
    let e = this.pods.get(sb.id);
    if (!e) {
      const log = this.log.child({ podSandboxId: sb.id });
      e = reattachPodVm(this.env, sb, log).then((vm) => ({ vm, containers: new PodContainers({ state: this.env.state, host: this.opts.host, log: this.log }, vm) }));
      this.pods.set(sb.id, e);
      e.catch(() => this.pods.delete(sb.id));
    }
    return e;
  }

  async createSandbox(input: SandboxCreateInput): Promise<SandboxRuntimeData> {
    const vm = await startPodVm(this.env, input);
    this.pods.set(input.id, Promise.resolve({ vm, containers: new PodContainers({ state: this.env.state, host: this.opts.host, log: this.log }, vm) }));
    return vm.data;
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
    if (!vm.alive) return null;
    const cost = vm.vm ? readProcessCost(vm.vm.pid) : undefined;
    if (!cost) return null;
    return {
      timestampNs: (BigInt(Date.now()) * 1_000_000n).toString(),
      cpuUsageNs: cost.cpuUserNs + cost.cpuSystemNs,
      cpuUserNs: cost.cpuUserNs,
      cpuSystemNs: cost.cpuSystemNs,
      memoryUsageBytes: cost.rssBytes,
      memoryWorkingSetBytes: cost.rssBytes,
      memoryRssBytes: cost.rssBytes,
      memoryLimitBytes: (vm.data as VmPodData).memoryMib * 1024 * 1024,
      pageFaults: cost.minorFaults + cost.majorFaults,
      majorPageFaults: cost.majorFaults,
      processes: 1,
    };
  }

  async createContainer(input: ContainerCreateInput): Promise<ContainerRuntimeData> {
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

  /** vmpod writes a VM container's log itself, from the agent's output stream. */
  async reopenContainerLog(sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    await (await this.entry(sb)).containers.reopenLog(c);
  }

  async containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null> {
    return (await this.entry(sb)).containers.stats(c);
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
        if (existsSync(join(p.shareSource, rel))) await releaseDir(join(p.shared, rel), join(p.shareSource, rel));
      }
    }
    log.info({ kind, id }, 'removed what an interrupted create left');
  }

  /**
   * A byte stream to TCP `port` of a VM pod (through its agent), for
   * PortForward: the daemon passes this to PodNetwork.setVmPortOpener.
   */
  readonly openPodPort = async (podId: string, port: number): Promise<Duplex> => {
    const e = this.pods.get(podId);
    const pod = e ? await e : undefined;
    if (!pod || !pod.vm.alive || pod.vm.detached) throw new FailedPreconditionError(`pod ${podId}: no running VM of this pod is known to the daemon; check the pod status`);
    return openGuestPort(pod.vm.agent, port);
  };

  /** Daemon shutdown: drop QMP and agent connections, leave the VMs running. */
  async detachAll(): Promise<void> {
    for (const e of this.pods.values()) {
      (await e.catch(() => undefined))?.vm.detach();
    }
    this.pods.clear();
  }
}
