// The runc implementation of SandboxController: trusted pods on the host.
// A pod is an infra process (vmpod-infra) holding its namespaces, each
// container a runc container under its own conmon (pod.ts, container.ts).
// Exits are reported from conmon's exit files as they appear (exit-watch.ts),
// and status answers come from memory (live-state.ts, exit-index.ts).

import { existsSync } from 'node:fs';
import { sleep } from '../../../common/time';
import { rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log';
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig';
import { connectLoopback, openNetnsPort } from '../../network';
import { podCgroupParent } from '../../oci/container-spec';
import type { HostFacts, PodNamespaceModes } from '../../oci/input';
import { attachContainer } from './attach';
import { checkpointRuncContainer } from './checkpoint';
import { readCheckpointSource } from './checkpoint-restore';
import { exitFile, reopenConmonLog } from './conmon';
import { Runc } from './runc-cli';
import type {
  CgroupStats,
  CheckpointOptions,
  CheckpointSource,
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
  PodResourcesUpdate,
  SandboxController,
  SandboxCreateInput,
  SandboxHandle,
  StreamOptions,
} from '../controller';
import { cgroupDirs, cgroupStats } from './cgroup-stats';
import * as ctr from './container';
import { readInitPid, startRuncContainer } from './container-start';
import { decodeContainerData, decodeSandboxData } from './data';
import { startExec } from './exec-stream';
import { ExitIndex } from './exit-index';
import { ExitWatcher } from './exit-watch';
import { LiveStates, pidAlive } from './live-state';
import { watchPidExit } from '../../host/pid-watch';
import { unmountIfMounted } from './mount';
import { RuncPaths } from './paths';
import { ImageUserFilesCache } from './rootfs-read';
import { Trash } from '../../host/trash';
import { mountBinaryPath, releaseStagedMounts } from './staged-mounts';
import { createPod, infraBinaryPath, podReady, removePod, stopPod } from './pod';
import { resizeRuncPod } from './pod-resize';
import type { PhaseObserver } from '../steps';

export interface RuncControllerOptions {
  /** The handler (RuntimeClass) name it serves. */
  handler: string;
  /** The daemon's state dir (config `state`). */
  state: string;
  host: HostFacts;
  log: Logger;
  runcBinary?: string;
  infraBinary?: string;
  /** native/infra's vmpod-mount, for idmapped and recursively read-only mounts. */
  mountBinary?: string;
  phases?: PhaseObserver;
}

export class RuncController implements SandboxController {
  readonly handler: string;
  readonly paths: RuncPaths;
  readonly runc: Runc;
  private readonly runcBinary: string;
  private readonly host: HostFacts;
  private readonly infraBinary: string;
  private readonly mountBinary: string;
  private readonly listeners: ((e: ControllerEvent) => void)[] = [];
  private readonly exits: ExitWatcher;
  private readonly exitIndex: ExitIndex;
  private readonly live: LiveStates;
  /** runc deletes started when a process ended (deleteEarly), by id, until removal. */
  private readonly deleting = new Map<string, Promise<void>>();
  private readonly userFiles = new ImageUserFilesCache();
  /** Init PIDs of containers made at their start (initPid), by id, until removal. */
  private readonly pids = new Map<string, number>();
  /** Removed containers' bundles, deleted after RemoveContainer answers; RemovePodSandbox waits for them. */
  private readonly trash: Trash;

  constructor(private readonly opts: RuncControllerOptions) {
    this.handler = opts.handler;
    this.paths = new RuncPaths(opts.state);
    this.runcBinary = opts.runcBinary ?? '/usr/sbin/runc';
    this.runc = new Runc(this.paths.runcRoot, this.runcBinary);
    this.host = opts.host;
    this.infraBinary = opts.infraBinary ?? infraBinaryPath();
    this.mountBinary = opts.mountBinary ?? mountBinaryPath();
    this.exits = new ExitWatcher(this.paths.exitDir, (id) => this.exited(id), opts.log.child({ subsystem: 'runc' }));
    this.exitIndex = new ExitIndex(this.paths.exitDir);
    this.live = new LiveStates({
      exitWritten: (id) => this.exitIndex.has(id),
      readExit: (id) => ctr.readExitFile(exitFile(this.paths.exitDir, id), this.paths.containerBundle(id)),
      pidAlive,
      watchExit: watchPidExit,
      now: Date.now,
    });
    this.trash = new Trash(join(this.paths.state, 'trash'), opts.log.child({ subsystem: 'runc' }));
    // Bundles a killed daemon had not finished deleting (the trash is under the state dir: a reboot empties it too).
    this.trash.sweep();
  }

  private get deps() {
    return {
      paths: this.paths,
      runc: this.runc,
      runcBinary: this.runcBinary,
      host: this.host,
      infraBinary: this.infraBinary,
      mountBinary: this.mountBinary,
      phases: this.opts.phases,
      userFiles: this.userFiles,
      trash: this.trash,
    };
  }

  /** conmon wrote an exit file: a container's (its bundle exists) or a pod infra's (its pod dir exists). */
  private exited(id: string): void {
    const bundle = this.paths.containerBundle(id);
    let e: ControllerEvent | undefined;
    // The watcher saw the file: the index need not wait for the directory's timestamps to change (a readdir between
    // conmon's temporary file and its rename, in the same tick, would otherwise miss it until the next change).
    if (existsSync(exitFile(this.paths.exitDir, id))) this.exitIndex.add(id);
    if (existsSync(bundle)) {
      // Read once here; the next status call answers from memory.
      const state = this.live.exitedState(id);
      if (state) e = { kind: 'container-exited', containerId: id, state };
    } else if (existsSync(this.paths.podDir(id)) && existsSync(exitFile(this.paths.exitDir, id))) {
      e = { kind: 'sandbox-died', podSandboxId: id, reason: 'the infra process exited' };
    }
    if (e) for (const l of this.listeners) l(e);
    if (e) this.deleteEarly(id);
  }

  /**
   * `runc delete` as soon as the process has ended, as containerd deletes a
   * task on its exit: runc's state and cgroups go then, not on the caller's
   * clock in RemoveContainer/RemovePodSandbox (a runc process, 20-30 ms).
   * Like runc delete at removal, it ends what is left in the cgroup of a
   * container that shares its pod's PID namespace (containerd's shim does
   * that on exit too).
   */
  private deleteEarly(id: string): void {
    this.runcDelete(id).catch((err: Error) => this.opts.log.child({ subsystem: 'runc' }).warn({ id, err: err.message }, 'runc delete after exit failed; removal deletes again'));
  }

  /** One `runc delete` per id at a time: removal waits for the one after the exit, and runs its own only if that failed. */
  private async runcDelete(id: string): Promise<void> {
    const early = this.deleting.get(id);
    if (
      early &&
      (await early.then(
        () => true,
        () => false,
      ))
    )
      return;
    // Another caller may have started one while this one waited.
    const now = this.deleting.get(id);
    if (now && now !== early) return now;
    const p = this.runc.delete(id, true);
    this.deleting.set(id, p);
    return p;
  }

  onEvent(listener: (e: ControllerEvent) => void): void {
    this.listeners.push(listener);
    this.exits.start();
  }

  async close(): Promise<void> {
    this.exits.close();
    // No runc left running behind a stopped daemon.
    await Promise.all([...this.deleting.values()].map((p) => p.catch(() => undefined)));
  }

  /** A trusted pod may ask for anything runc can give on the host. */
  checkPod(_config: PodSandboxConfig__Output, _namespaces: PodNamespaceModes): void {}

  checkContainer(_sb: SandboxHandle, _config: ContainerConfig__Output): void {}

  createSandbox(input: SandboxCreateInput): Promise<ControllerData> {
    return createPod(this.deps, input);
  }

  /** From memory (live-state.ts); runc is asked only when the infra PID is gone without an exit file, or nothing is known. */
  sandboxReady(sb: SandboxHandle): Promise<boolean> {
    const { infraPid } = decodeSandboxData(sb.data, sb.id);
    return this.live.podReady(sb.id, infraPid, async () => ctr.pidInCgroup(infraPid, sb.id) || (await podReady(this.runc, sb)));
  }

  /**
   * Without runc when it can: an infra whose exit file is written is stopped
   * already (RemovePodSandbox after StopPodSandbox); a live one, checked to
   * be in its pod's cgroup, gets SIGKILL and is waited for through its exit
   * file. That saved `runc kill` + `runc state` (two processes) per call.
   * An infra already stopped was deleted from runc when it was stopped or
   * when its exit was seen (deleteEarly).
   */
  async stopSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    if (this.exitIndex.has(sb.id)) return;
    const { infraPid } = decodeSandboxData(sb.data, sb.id);
    if (ctr.pidInCgroup(infraPid, sb.id)) {
      try {
        process.kill(infraPid, 'SIGKILL');
      } catch {
        // ESRCH: it ended in between.
      }
      if (await waitUntil(() => this.exitIndex.has(sb.id) || !ctr.pidInCgroup(infraPid, sb.id), 10_000)) {
        log.debug('infra process stopped');
        // As for containers: deleted from runc now, not in RemovePodSandbox.
        return this.runcDelete(sb.id).catch((err: Error) => log.warn({ err: err.message }, 'runc delete after stop failed; removal deletes again'));
      }
    }
    return stopPod(this.runc, sb, log);
  }

  async removeSandbox(sb: SandboxHandle, log: Logger): Promise<void> {
    await removePod(this.deps, sb, log, { runcDelete: () => this.runcDelete(sb.id) });
    this.forget(sb.id);
    // Nothing of the pod may be left when RemovePodSandbox answers: its containers' bundles included.
    await this.trash.drained();
  }

  /** Its exit file is gone with it: nothing of it stays in memory. */
  private forget(id: string): void {
    this.live.forget(id);
    this.pids.delete(id);
    this.exitIndex.delete(id);
    this.deleting.delete(id);
  }

  /** The pod's cgroup parent (pod-resize.ts). */
  updateSandboxResources(sb: SandboxHandle, u: PodResourcesUpdate, log: Logger): Promise<void> {
    return resizeRuncPod(sb, u, this.host.cgroupVersion, log);
  }

  sandboxStats(sb: SandboxHandle): Promise<CgroupStats | null> {
    return cgroupStats(decodeSandboxData(sb.data, sb.id).cgroupParent, this.host.cgroupVersion);
  }

  describeSandbox(sb: SandboxHandle): Description {
    const d = decodeSandboxData(sb.data, sb.id);
    // The infra process stands for the pod on the host.
    return { pid: d.infraPid, podDir: d.podDir, cgroupParent: d.cgroupParent };
  }

  /** For `vmpod vm`: the infra process that holds the pod's namespaces on the host; a runc pod has no console. */
  async debugInfo(sb: SandboxHandle): Promise<DebugInfo> {
    const d = decodeSandboxData(sb.data, sb.id);
    return {
      isolation: 'runc (containers on the host kernel)',
      facts: { infraPid: d.infraPid, infraRunning: await podReady(this.runc, sb), podDir: d.podDir, cgroupParent: d.cgroupParent, netns: sb.netnsPath || 'host' },
    };
  }

  /** The pod's port on its own loopback: relayed inside its netns, or ours for a host-network pod. */
  portForward(sb: SandboxHandle, port: number): Promise<Duplex> {
    return sb.netnsPath ? openNetnsPort(sb.netnsPath, port) : connectLoopback(port);
  }

  createContainer(input: ContainerCreateInput): Promise<ContainerCreateResult> {
    return ctr.createContainer(this.deps, input);
  }

  /** runc makes the container now (container-start.ts); its init PID is kept for the status calls. */
  async startContainer(_sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    const pid = await startRuncContainer(this.deps, c);
    this.pids.set(c.id, pid);
    this.live.started(c.id, pid);
  }

  /**
   * The container's init PID without touching the disk on the status path:
   * from its data (made at create by an earlier vmpod), else as its start
   * reported it, else from runc's pidfile, read once per daemon (a container
   * started before a restart); 0 while not made. Only this controller's
   * start makes a container, so a 0 read stays true until it runs, but for
   * a start interrupted by a daemon restart, whose conmon may finish making
   * the container (still "created" then, which 0 also says).
   */
  private initPid(c: ContainerHandle): number {
    const { pid, bundle } = decodeContainerData(c.data, c.id);
    if (pid > 0) return pid;
    let known = this.pids.get(c.id);
    if (known === undefined) {
      known = readInitPid(bundle);
      this.pids.set(c.id, known);
    }
    return known;
  }

  /** Stopped, then deleted from runc (as containerd's StopContainer returns once the task is deleted): removal does not pay for it. */
  async stopContainer(_sb: SandboxHandle, c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void> {
    await ctr.stopContainer(this.deps, c, signal, timeoutS, log);
    await this.runcDelete(c.id).catch((err: Error) => log.warn({ err: err.message }, 'runc delete after stop failed; removal deletes again'));
  }

  /** Nothing on the host uses it after the stop: runc exec (whose cwd it is) needs a running container. */
  readonly rootfsUnusedAfterStop = true;

  async removeContainer(_sb: SandboxHandle, c: ContainerHandle, log: Logger): Promise<void> {
    log.debug('removing container');
    await ctr.removeContainer(this.deps, c, { runcDelete: () => this.runcDelete(c.id) });
    this.forget(c.id);
  }

  /** From memory (live-state.ts); the full check (container.ts) only when memory and the PID cannot say. */
  containerState(_sb: SandboxHandle, c: ContainerHandle): Promise<ContainerProcessState> {
    return this.live.container(c.id, this.initPid(c), () => ctr.containerState(this.deps, c));
  }

  execSync(_sb: SandboxHandle, c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
    return ctr.execInContainer(this.deps, c, cmd, timeoutS);
  }

  updateContainer(_sb: SandboxHandle, c: ContainerHandle, resources: LinuxContainerResources__Output): Promise<void> {
    return ctr.updateContainer(this.deps, c, resources);
  }

  async exec(_sb: SandboxHandle, c: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    const pidFile = join(decodeContainerData(c.data, c.id).bundle, `exec-${process.hrtime.bigint()}.pid`);
    return startExec({ runcBinary: this.runcBinary, runcRoot: this.paths.runcRoot, id: c.id, cmd, streams: opts, pidFile });
  }

  async attach(sb: SandboxHandle, c: ContainerHandle, opts: StreamOptions): Promise<ProcessIO> {
    const d = decodeContainerData(c.data, c.id);
    return attachContainer({ id: c.id, attachSocket: d.attachSocket, ctlPath: join(d.bundle, 'ctl'), streams: opts, state: () => this.containerState(sb, c) });
  }

  reopenContainerLog(_sb: SandboxHandle, c: ContainerHandle): Promise<void> {
    return reopenConmonLog(decodeContainerData(c.data, c.id).bundle, c.id, c.logPath);
  }

  /** Both made by vmpod-mount for runc 1.1 (staged-mounts.ts); see docs/user-namespaces.md. */
  features(): HandlerFeatureFlags {
    return { userNamespaces: true, recursiveReadOnlyMounts: true };
  }

  /** CreateContainer of a checkpoint archive: the image it lies over (checkpoint-restore.ts). */
  readCheckpoint(archive: string): Promise<CheckpointSource> {
    return readCheckpointSource(archive);
  }

  /** runc checkpoint --leave-running with vmpod's CRIU into an archive (checkpoint.ts, docs/checkpoint.md). */
  checkpointContainer(_sb: SandboxHandle, c: ContainerHandle, opts: CheckpointOptions): Promise<void> {
    return checkpointRuncContainer({ runcBinary: this.runcBinary, runcRoot: this.paths.runcRoot }, c, opts);
  }

  containerStats(sb: SandboxHandle, c: ContainerHandle): Promise<CgroupStats | null> {
    const parent = podCgroupParent(sb.config.linux?.cgroup_parent ?? '', sb.id);
    return cgroupStats(`${parent}/${c.id}`, this.host.cgroupVersion);
  }

  describeContainer(_sb: SandboxHandle, c: ContainerHandle): Description {
    const d = decodeContainerData(c.data, c.id);
    // The container's init process on the host.
    return { pid: this.initPid(c), bundle: d.bundle };
  }

  async purgeInterrupted(kind: 'sandbox' | 'container', id: string, log: Logger): Promise<void> {
    await this.runc.delete(id, true);
    if (kind === 'container') {
      await releaseStagedMounts(this.paths.stagedMounts(id));
      await releaseStagedMounts(this.paths.stagedRootfs(id));
      await rm(this.paths.containerBundle(id), { recursive: true, force: true });
    } else {
      const podDir = this.paths.podDir(id);
      await unmountIfMounted(join(podDir, 'shm'));
      await rm(podDir, { recursive: true, force: true });
      for (const d of cgroupDirs(podCgroupParent('', id), this.host.cgroupVersion)) await rmdir(d).catch(() => undefined);
    }
    await rm(join(this.paths.exitDir, id), { force: true });
    this.forget(id);
    log.info({ kind, id }, 'removed what an interrupted create left');
  }
}

/** Polls `done` every 10 ms for at most `ms`: whether it came true. */
async function waitUntil(done: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= until) return false;
    await sleep(10);
  }
}
