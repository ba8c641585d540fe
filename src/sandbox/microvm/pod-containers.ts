// Containers of a VM pod. On the host: the container's overlay rootfs (from
// the image service) and its read-only CRI mounts are bound into the pod's
// 9p share, its writable CRI mounts into the pod's volume share (layout.ts),
// and the CRI log file is written from the agent's output streams. In the
// guest: the agent runs it with runc from the OCI spec the runc path's
// generator makes, adapted to guest paths (guest-spec.ts).
//
// The log file exists once StartContainer returns (created then, with its
// directory, as containerd does), and a container is reported exited only
// once all of its output is in that file: the agent reports an exit after
// the process's output is all buffered in the guest, and the host waits for
// its pumps to drain that buffer into the file before it says EXITED.

import { join } from 'node:path';
import { AgentUnavailableError } from '../../agent-client';
import { FailedPreconditionError, InternalError } from '../../../common/errors';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';
import type { Logger } from '../../log';
import { CriLogWriter } from '../../logs/cri-log';
import { containerSpec } from '../../oci/container-spec';
import type { HostFacts } from '../../oci/input';
import { resolveResources } from '../../oci/resources';
import { RemoteStatusError } from '../../../common/ttrpc';
import type { ImageUserFilesCache } from '../runc/rootfs-read';
import type { CgroupStats, ContainerCreateInput, ContainerCreateResult, ContainerHandle, ContainerProcessState, ControllerEvent, ExecResult, ProcessIO, StreamOptions } from '../controller';
import { decodeVmContainerData, VM_DATA_VERSION, type VmContainerData } from './data';
import { guestHostFacts, guestPodContext, guestSpec } from './guest-spec';
import { mountPlace, sharePath } from './layout';
import { dropWarning, LONG_POLL_WAIT_MS, pumpOutput } from './output-pump';
import { execInGuest } from './exec';
import { openExec } from './exec-stream';
import { Attachment } from './attach-stream';
import { describeExit, type PodVm } from './pod-vm';
import { podPaths, type PodPaths } from './layout';
import { shareBindPropagation } from './propagation';
import { bindInto, makeMountPoint, releaseDir } from './share';
import { msToNs, nowNs, sleep } from '../../../common/time';

export interface ExitInfo {
  code: number;
  finishedAtNs: string;
  oomKilled: boolean;
  /** Why, when the container did not end by itself (its VM died under it). */
  message?: string;
}

function exitedState(e: ExitInfo): ContainerProcessState {
  return { state: 'exited', exitCode: e.code, finishedAt: e.finishedAtNs, oomKilled: e.oomKilled, message: e.message };
}

function notExited(state: 'created' | 'running'): ContainerProcessState {
  return { state, exitCode: 0, finishedAt: '0', oomKilled: false };
}

/** Exit code reported for a container whose VM died under it (as if SIGKILLed). */
export const VM_GONE_EXIT_CODE = 137;

/** The live side of one container in this daemon. */
class LiveContainer {
  started = false;
  removed = false;
  exit: ExitInfo | undefined;
  private resolveExit!: (e: ExitInfo) => void;
  readonly exited: Promise<ExitInfo>;
  writer: CriLogWriter | undefined;
  pumps: Promise<void> | undefined;
  waiter: Promise<void> | undefined;
  /** Attach sessions: the pumps hand them the output too. */
  readonly attached = new Set<Attachment>();

  constructor(readonly id: string) {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  setExit(e: ExitInfo): void {
    if (this.exit) return;
    this.exit = e;
    this.resolveExit(e);
    this.onExit(e);
  }

  /** Set by PodContainers: reports the exit to the controller's listeners. */
  onExit: (e: ExitInfo) => void = () => undefined;
}

const STATS_TIMEOUT_MS = 2000;
const data = (c: ContainerHandle): VmContainerData => decodeVmContainerData(c.data, c.id);

/** Unmount and delete a container's dir (`rel`, c/<cid>) in the pod share and in the volume share. Idempotent. */
export async function releaseContainerDirs(p: PodPaths, rel: string): Promise<void> {
  await releaseDir(join(p.shared, rel), join(p.shareSource, rel));
  await releaseDir(join(p.volumes, rel), join(p.volumeSource, rel));
}

export interface ContainerEnv {
  state: string;
  host: HostFacts;
  log: Logger;
  /** Where exits are reported as they happen (the controller's listeners). */
  emit(e: ControllerEvent): void;
  /** The image's /etc/passwd and /etc/group, kept per layer list (the controller's). */
  userFiles: ImageUserFilesCache;
}

/** Per pod: the containers this daemon is following. */
export class PodContainers {
  private readonly live = new Map<string, LiveContainer>();
  /** Containers the guest reported OOM kills for (GetOOMEvent), with a waiter per container. */
  private readonly oomed = new Set<string>();
  private readonly oomWaiters = new Map<string, () => void>();
  private oomWatch: Promise<void> | undefined;

  constructor(
    private readonly env: ContainerEnv,
    private readonly pod: PodVm,
  ) {
    pod.onExit((e) => {
      for (const c of this.live.values()) {
        c.setExit({ code: VM_GONE_EXIT_CODE, finishedAtNs: msToNs(e.at), oomKilled: false, message: describeExit(e) });
      }
    });
  }

  /** One long poll per pod for the guest's OOM events: an OOM kill is attributed even if the exit report misses it. */
  private watchOom(): void {
    this.oomWatch ??= (async () => {
      while (this.pod.alive && !this.pod.detached) {
        try {
          const ev = await this.pod.agent.getOOMEvent({ wait_ms: LONG_POLL_WAIT_MS });
          // Only containers of this pod: the guest names them, and must not grow the set at will.
          if (ev.container_id && this.live.has(ev.container_id)) {
            this.oomed.add(ev.container_id);
            this.oomWaiters.get(ev.container_id)?.();
          }
        } catch (err) {
          await sleep(err instanceof AgentUnavailableError ? 500 : 2000);
        }
      }
    })();
  }

  /** A SIGKILLed container may have been the OOM killer's: give its OOM event a moment to arrive. */
  private async oomVerdict(id: string, code: number, reported: boolean): Promise<boolean> {
    if (reported || this.oomed.has(id)) return true;
    if (code !== 128 + 9) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1500);
      this.oomWaiters.set(id, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.oomWaiters.delete(id);
    return this.oomed.has(id);
  }

  private liveOf(id: string): LiveContainer {
    let l = this.live.get(id);
    if (!l) {
      l = new LiveContainer(id);
      l.onExit = (e) => this.env.emit({ kind: 'container-exited', containerId: id, state: exitedState(e) });
      this.live.set(id, l);
      if (!this.pod.alive) l.setExit({ code: VM_GONE_EXIT_CODE, finishedAtNs: nowNs(), oomKilled: false, message: 'the pod VM is not running' });
    }
    return l;
  }

  private requireAlive(what: string): void {
    if (!this.pod.alive) throw new FailedPreconditionError(`pod ${this.pod.id}: cannot ${what}: the pod VM is not running`);
  }

  private paths() {
    return podPaths(this.env.state, this.pod.id);
  }

  async create(input: ContainerCreateInput): Promise<ContainerCreateResult> {
    const { id, config } = input;
    this.requireAlive('create a container');
    const p = this.paths();
    const rel = sharePath.containerDir(id);
    const rootfsRel = sharePath.rootfs(id);
    const undo = async (): Promise<void> => releaseContainerDirs(p, rel);
    try {
      await makeMountPoint(p.shareSource, rootfsRel, input.rootfs);
      await bindInto(input.rootfs, join(p.shared, rootfsRel), false);
      const sharedMounts = new Map<string, string>();
      for (const [n, m] of config.mounts.entries()) {
        const place = mountPlace(id, n, m.readonly, this.pod.data.volumeShare === true);
        const [source, exported] = place.share === 'volumes' ? [p.volumeSource, p.volumes] : [p.shareSource, p.shared];
        await makeMountPoint(source, place.rel, m.host_path);
        await bindInto(m.host_path, join(exported, place.rel), m.readonly, shareBindPropagation(m, n));
        sharedMounts.set(m.container_path.replace(/\/+$/, '') || '/', place.guestRel);
      }
      // From the image layers: the rootfs is in the guest's share by now, and the guest may have swapped these files.
      const { passwd, group } = await this.env.userFiles.read(input.rootfs, input.imageLayers);
      const podFile = (n: 'hosts' | 'resolv.conf' | 'hostname'): string => join(p.shared, sharePath.podFile(n));
      const sb = input.sandbox;
      const host = containerSpec({
        containerId: id,
        config,
        image: input.image,
        rootfs: join(p.shared, rootfsRel),
        passwd,
        group,
        targetPid: 0,
        host: guestHostFacts(this.env.host),
        pod: guestPodContext(sb.id, sb.hostname, sb.namespaces, { hosts: podFile('hosts'), resolvConf: podFile('resolv.conf'), hostname: podFile('hostname') }),
      });
      const { spec, notes } = guestSpec({ spec: host.spec, sharedHostDir: p.shared, rootfsRel, sharedMounts });
      for (const n of [...host.notes, ...notes]) input.log.info(n.detail, n.message);
      await this.pod.agent.call('CreateContainer', {
        container_id: id,
        oci_spec_json: Buffer.from(JSON.stringify(spec)),
        rootfs_path: rootfsRel,
        mounts: [],
        stdin: config.stdin,
        // Privileged inside the guest: the agent adds its own capabilities and the guest's devices.
        privileged: config.linux?.security_context?.privileged ?? false,
      });
      const { args: _args, ...process } = spec.process;
      void _args;
      this.liveOf(id);
      const d: VmContainerData = { v: VM_DATA_VERSION, shareDir: rel, process, stdin: config.stdin, stdinOnce: config.stdin_once };
      const u = spec.process.user;
      return { data: { ...d }, user: { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids ?? [] } };
    } catch (err) {
      await undo().catch((e: unknown) => input.log.warn({ err: (e as Error).message }, 'undoing container share failed'));
      throw err;
    }
  }

  async start(c: ContainerHandle): Promise<void> {
    this.requireAlive('start a container');
    const l = this.liveOf(c.id);
    // The log file (and its directory) exists before the container runs, as containerd makes it:
    // `crictl logs` and kubelet may open it as soon as StartContainer returns.
    const w = l.writer ?? this.logWriter(c);
    if (w) {
      await w.open().catch((err: Error) => {
        throw new FailedPreconditionError(`container ${c.id}: cannot create its log file ${w.path}: ${err.message}`, { cause: err });
      });
    }
    try {
      await this.pod.agent.call('StartContainer', { container_id: c.id });
    } catch (err) {
      await w?.close();
      throw err;
    }
    l.writer = w;
    l.started = true;
    this.watchOom();
    this.follow(c, l);
  }

  private logWriter(c: ContainerHandle): CriLogWriter | undefined {
    const logPath = c.logPath;
    if (!logPath) return undefined;
    const log = this.env.log.child({ podSandboxId: this.pod.id, containerId: c.id });
    return new CriLogWriter(logPath, { partialFlushMs: 1000, onError: (err) => log.warn({ err: err.message }, 'container log write failed') });
  }

  /**
   * Start the output pumps and the exit waiter (once per daemon). The exit is
   * recorded only after the pumps have written everything to the log.
   */
  private follow(c: ContainerHandle, l: LiveContainer): void {
    if (l.waiter || l.exit) return;
    const log = this.env.log.child({ podSandboxId: this.pod.id, containerId: c.id });
    const stopped = (): boolean => l.removed || !this.pod.alive || this.pod.detached;
    // A restarted daemon follows a container it did not start: it appends to the same file.
    l.writer ??= this.logWriter(c);
    const w = l.writer;
    // The pumps run with or without a log: attached clients read from them, and the agent holds
    // a process back once its unread output is at the bound.
    const one = (stream: 'stdout' | 'stderr') =>
      pumpOutput({
        agent: this.pod.agent,
        containerId: c.id,
        execId: '',
        stream,
        sink: (b) => {
          for (const a of l.attached) a.offer(stream, b);
          if (!w) return;
          w.write(stream, b);
          return w.writable();
        },
        onDropped: dropWarning(log, stream),
        stopped,
      });
    l.pumps = Promise.all([one('stdout'), one('stderr')]).then(() => w?.close());
    l.waiter = (async () => {
      while (!stopped() && !l.exit) {
        try {
          const r = await this.pod.agent.waitProcess({ container_id: c.id, exec_id: '', wait_ms: LONG_POLL_WAIT_MS });
          if (r.exited) {
            // The agent reports an exit once all output is buffered in the guest; the pumps end when
            // they have drained it into the log (or the VM is gone, or the container removed).
            const [oomKilled] = await Promise.all([this.oomVerdict(c.id, r.exit_code, r.oom_killed), l.pumps]);
            l.setExit({ code: r.exit_code, finishedAtNs: r.finished_at_unix_nano > 0 ? BigInt(Math.round(r.finished_at_unix_nano)).toString() : nowNs(), oomKilled });
          }
        } catch (err) {
          if (err instanceof AgentUnavailableError) await sleep(500);
          else {
            log.warn({ err: (err as Error).message }, 'waiting for the container failed');
            await sleep(2000);
          }
        }
      }
    })();
  }

  async state(c: ContainerHandle): Promise<ContainerProcessState> {
    const l = this.liveOf(c.id);
    if (!l.exit && this.pod.alive && !l.waiter) {
      // Not started by this daemon (it restarted since, or the container is only created): ask the
      // agent, and follow a started container again. One that has exited meanwhile is reported exited
      // by the waiter, once the output it left is in the log. A created one is asked again next time.
      try {
        const r = await this.pod.agent.waitProcess({ container_id: c.id, exec_id: '', wait_ms: 0 });
        if (r.not_started && !r.exited) return notExited('created');
        l.started = true;
        this.watchOom();
      } catch (err) {
        if (err instanceof RemoteStatusError) return notExited('created');
        // The VM runs but its agent did not answer this time. "unknown" would make the CRI
        // layer record the container as gone for good; ask again on the next status call.
        return notExited('running');
      }
      this.follow(c, l);
    }
    if (l.exit) return exitedState(l.exit);
    return notExited(l.started ? 'running' : 'created');
  }

  private async signal(id: string, execId: string, signal: number): Promise<void> {
    await this.pod.agent.call('SignalProcess', { container_id: id, exec_id: execId, signal }).catch(() => undefined);
  }

  private async waitExit(l: LiveContainer, ms: number): Promise<boolean> {
    if (l.exit) return true;
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([l.exited.then(() => true), new Promise<boolean>((res) => (t = setTimeout(() => res(false), ms)))]);
    clearTimeout(t);
    return r;
  }

  async stop(c: ContainerHandle, signal: number, timeoutS: number, log: Logger): Promise<void> {
    const l = this.liveOf(c.id);
    if (l.exit || !this.pod.alive) return;
    // A container never started has no process to signal (the agent ignores the signal), and no exit
    // would come: stopping it succeeds at once, as CRI's StopContainer of a created container does.
    // state() asks the agent when this daemon has not seen it started, and follows it if it was.
    if (!l.waiter && (await this.state(c)).state === 'created') return;
    if (!l.waiter) this.follow(c, l);
    if (signal !== 9 && timeoutS > 0) {
      await this.signal(c.id, '', signal);
      if (await this.waitExit(l, timeoutS * 1000)) return;
      log.info({ timeoutS }, 'container did not stop in time; SIGKILL');
    }
    await this.signal(c.id, '', 9);
    if (!(await this.waitExit(l, 30_000))) log.warn('container did not exit after SIGKILL');
  }

  async remove(c: ContainerHandle, log: Logger): Promise<void> {
    const l = this.liveOf(c.id);
    if (this.pod.alive) {
      await this.pod.agent.call('RemoveContainer', { container_id: c.id, force: true }).catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'agent RemoveContainer failed');
      });
    }
    l.removed = true;
    // Its attach sessions end with it (an exit the waiter will no longer see would leave them open).
    for (const a of [...l.attached]) a.close();
    // Let the pumps write what they already have (bounded: they stop at removed).
    await Promise.race([l.pumps ?? Promise.resolve(), sleep(6000)]);
    await l.writer?.close();
    const p = this.paths();
    const rel = data(c).shareDir || sharePath.containerDir(c.id);
    await releaseContainerDirs(p, rel);
    this.live.delete(c.id);
    this.oomed.delete(c.id);
  }

  async exec(c: ContainerHandle, cmd: string[], timeoutS: number): Promise<ExecResult> {
    this.requireAlive('exec in a container');
    return execInGuest(this.pod, c.id, { ...data(c).process, args: cmd, terminal: false }, timeoutS);
  }

  /** A process next to the container's init, with streams (CRI Exec). */
  async execStream(c: ContainerHandle, cmd: string[], opts: StreamOptions): Promise<ProcessIO> {
    this.requireAlive('exec in a container');
    return openExec(this.pod, c.id, { ...data(c).process, args: cmd }, opts);
  }

  /** The container's own stdio (CRI Attach); the output comes from the log pumps. */
  async attach(c: ContainerHandle, opts: StreamOptions): Promise<ProcessIO> {
    this.requireAlive('attach to a container');
    const l = this.liveOf(c.id);
    if (!l.waiter && !l.exit) await this.state(c); // a restarted daemon follows the container again
    if (l.exit || !l.started) throw new FailedPreconditionError(`container ${c.id} is not running; attach needs a running container`);
    const d = data(c);
    const a = new Attachment(
      {
        pod: this.pod,
        containerId: c.id,
        stdin: d.stdin === true,
        stdinOnce: d.stdinOnce === true,
        tty: d.process.terminal === true,
        exited: l.exited,
        detach: (x) => l.attached.delete(x),
      },
      opts,
    );
    l.attached.add(a);
    return a.io();
  }

  /** ReopenContainerLog: kubelet rotated the file; returns once the new file exists, and records written after this go there. */
  async reopenLog(c: ContainerHandle): Promise<void> {
    const l = this.liveOf(c.id);
    if (!l.waiter && !l.exit && this.pod.alive) await this.state(c); // a restarted daemon follows the container again
    const w = l.writer;
    if (!w || l.exit) throw new FailedPreconditionError(`container ${c.id} has no log being written (no log path, or it has exited)`);
    await w.reopen().catch((err: Error) => {
      throw new InternalError(`container ${c.id}: cannot open a new log file ${w.path}: ${err.message}; check the pod's log directory`, { cause: err });
    });
  }

  async update(c: ContainerHandle, r: LinuxContainerResources__Output): Promise<void> {
    this.requireAlive('update container resources');
    const resources = resolveResources(r, guestHostFacts(this.env.host));
    await this.pod.agent.call('UpdateContainerResources', { container_id: c.id, resources_json: Buffer.from(JSON.stringify(resources)) });
  }

  async stats(c: ContainerHandle): Promise<CgroupStats | null> {
    if (!this.pod.alive) return null;
    const l = this.liveOf(c.id);
    if (l.exit) return null;
    // Short: kubelet lists the stats of every container of the node in one call
    // (the list handlers leave out a container whose stats fail).
    const s = await this.pod.agent.call('StatsContainer', { container_id: c.id }, { timeoutMs: STATS_TIMEOUT_MS });
    return {
      timestampNs: s.timestamp_unix_nano > 0 ? BigInt(Math.round(s.timestamp_unix_nano)).toString() : nowNs(),
      cpuUsageNs: s.cpu_usage_usec * 1000,
      cpuUserNs: s.cpu_user_usec * 1000,
      cpuSystemNs: s.cpu_system_usec * 1000,
      memoryUsageBytes: s.memory_usage_bytes,
      memoryWorkingSetBytes: s.memory_working_set_bytes,
      memoryRssBytes: s.memory_rss_bytes,
      memoryLimitBytes: s.memory_limit_bytes,
      pageFaults: 0,
      majorPageFaults: 0,
      processes: s.pids_current,
    };
  }
}
