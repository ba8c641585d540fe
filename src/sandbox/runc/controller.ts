// The runc implementation of SandboxController: trusted pods on the host.

import { rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log';
import type { HostFacts } from '../../oci/input';
import { podCgroupParent } from '../../oci/container-spec';
import { reopenConmonLog } from '../../runc/conmon';
import { Runc } from '../../runc/runc';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type {
  CgroupStats, ContainerCreateInput, ContainerHandle, ContainerProcessState, ContainerRuntimeData, ExecResult,
  RuncContainerData, RuncSandboxData, SandboxController, SandboxCreateInput, SandboxHandle, SandboxRuntimeData,
} from '../controller';
import { cgroupDirs, cgroupStats } from './cgroup-stats';
import { unmountIfMounted } from './mount';
import * as ctr from './container';
import { RuncPaths } from './paths';
import { createPod, infraBinaryPath, podReady, removePod, stopPod } from './pod';

export interface RuncControllerOptions {
  /** The daemon's state dir (config `state`). */
  state: string;
  host: HostFacts;
  runcBinary?: string;
  infraBinary?: string;
}

export class RuncController implements SandboxController {
  readonly type = 'runc' as const;
  readonly paths: RuncPaths;
  readonly runc: Runc;
  private readonly runcBinary: string;
  private readonly host: HostFacts;
  private readonly infraBinary: string;

  constructor(opts: RuncControllerOptions) {
    this.paths = new RuncPaths(opts.state);
    this.runcBinary = opts.runcBinary ?? '/usr/sbin/runc';
    this.runc = new Runc(this.paths.runcRoot, this.runcBinary);
    this.host = opts.host;
    this.infraBinary = opts.infraBinary ?? infraBinaryPath();
  }

  private get deps() {
    return { paths: this.paths, runc: this.runc, runcBinary: this.runcBinary, host: this.host, infraBinary: this.infraBinary };
  }

  createSandbox(input: SandboxCreateInput): Promise<SandboxRuntimeData> {
    return createPod(this.deps, input);
  }

  sandboxReady(sb: SandboxHandle): Promise<boolean> {
    return podReady(this.runc, sb);
  }

  stopSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    return stopPod(this.runc, sb, log);
  }

  removeSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    return removePod(this.deps, sb, log);
  }

  sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null> {
    const data = sb.runtime as RuncSandboxData;
    return cgroupStats(data.cgroupParent, this.host.cgroupVersion);
  }

  createContainer(input: ContainerCreateInput): Promise<ContainerRuntimeData> {
    return ctr.createContainer(this.deps, input);
  }

  startContainer(_sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    return ctr.startContainer(this.deps, c);
  }

  stopContainer(_sb: SandboxHandle, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void> {
    return ctr.stopContainer(this.deps, c, signal, timeoutS, log);
  }

  removeContainer(_sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void> {
    log.debug('removing container');
    return ctr.removeContainer(this.deps, c);
  }

  containerState(_sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState> {
    return ctr.containerState(this.deps, c);
  }

  execSync(_sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
    return ctr.execInContainer(this.deps, c, cmd, timeoutS);
  }

  updateContainer(_sb: SandboxHandle, c: ContainerHandle, resources: LinuxContainerResources__Output): Promise<void> {
    return ctr.updateContainer(this.deps, c, resources);
  }

  reopenContainerLog(_sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    const d = c.runtime as RuncContainerData;
    return reopenConmonLog(d.bundle, c.id, d.logPath ?? '');
  }

  async purgeInterrupted(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void> {
    await this.runc.delete(id, true);
    if (kind === 'container') {
      await rm(this.paths.containerBundle(id), { recursive: true, force: true });
    } else {
      const podDir = this.paths.podDir(id);
      await unmountIfMounted(join(podDir, 'shm'));
      await rm(podDir, { recursive: true, force: true });
      for (const d of cgroupDirs(podCgroupParent('', id), this.host.cgroupVersion)) await rmdir(d).catch(() => undefined);
    }
    await rm(join(this.paths.exitDir, id), { force: true });
    log.info({ kind, id }, 'removed what an interrupted create left');
  }

  containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null> {
    const parent = podCgroupParent(sb.config.linux?.cgroup_parent ?? '', sb.id);
    return cgroupStats(`${parent}/${c.id}`, this.host.cgroupVersion);
  }
}
