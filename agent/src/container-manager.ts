// Containers and processes in the guest: the state behind the container and
// process RPCs. Each container's init runs as `crun run` and each exec as
// `crun exec`, both children of the agent (see oci-runtime.ts), so exits are
// reaped and reported here. Output is kept in bounded per-stream buffers until
// the host reads it (process.ts: stdio, terminals, exit waits); this file keeps
// the containers, their runtime calls and the OOM accounting.

import { readFileSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, ResourceExhaustedError } from '../../common/errors';
import { ID_PATTERN } from '../../common/agent-protocol/limits';
import type { CreateContainerRequest } from '../../common/generated/agent/agent';
import type { WindowSize } from '../../common/native/pty';
import type { ReadResult } from './output-buffer';
import { consoleSizeOf, OciProcess, prepareSpec } from './spec';
import { ociRuntimeArgs, pidFromFile } from './oci-runtime';
import { CgroupStats, readCgroupStats, readOomKills } from './cgroup';
import { mustRun, System } from './system';
import { readTextIfThere } from './files';
import { OomWatches } from './oom-watch';
import { waitForPidFile } from './pid-file';
import { ExitStatus, GuestProcess } from './process';
import { effectiveCapabilities, guestDevices, PrivilegedFacts, privilegedSpec, processCapabilities } from './privileged';

export interface ContainerPaths {
  /** The OCI runtime binary (crun in the guest). */
  ociRuntime: string;
  bundlesDir: string;
  shareDir: () => string;
  cgroupRoot: string;
  cgroupParent: string;
  /** What a privileged container gets (privileged.ts); default: the agent's own capabilities and the guest's /dev. */
  privilegedFacts?: () => PrivilegedFacts;
}

function realPrivilegedFacts(): PrivilegedFacts {
  return { capabilities: effectiveCapabilities(readFileSync('/proc/self/status', 'utf8')), devices: guestDevices('/dev') };
}

interface Container {
  id: string;
  bundle: string;
  cgroupDir: string;
  init: GuestProcess;
  /** The container's init as crun's pid file names it (crun's own pid until then). */
  initPid: number;
  started: boolean;
  /**
   * Settles once `crun run` has made the container (its pid file appeared), or
   * gave up waiting: until then crun knows no container of this id, and
   * `crun exec/kill/update` would fail with "container does not exist". A
   * host that restarted mid-StartContainer sees the container as started
   * while this is still pending, and may exec in it at once.
   */
  made: Promise<void>;
  execs: Map<string, GuestProcess>;
  /** Last oom_kill count seen (events are reported when it grows). */
  oomKills: number;
  /** oom_kill count when the container started (its exit was an OOM kill if it grew). */
  oomAtStart: number;
  /** A privileged container's capabilities (its execs get the same); undefined if not privileged. */
  privilegedCaps: string[] | undefined;
}

export interface WaitResult {
  exit: ExitStatus | undefined;
  started: boolean;
}

export interface OomEvent {
  containerId: string;
  count: number;
}

const MAX_OOM_QUEUE = 1024;
/** Where `crun run --pid-file` puts the container's pid, in its bundle. */
const INIT_PID_FILE = 'init.pid';
/** How long StartContainer waits for that pid (a container's start under TCG can take seconds). */
const INIT_PID_WAIT_MS = 10_000;
/**
 * Exec records per container, running or finished and not yet collected. A
 * record is forgotten as soon as the host has collected its exit and read
 * its output to the end, or FINISHED_EXEC_TTL_MS after it finished (a host
 * that went away, a killed session); at the bound the oldest finished one
 * goes first, and a container with this many running execs refuses more.
 */
export const MAX_EXECS_PER_CONTAINER = 128;
export const FINISHED_EXEC_TTL_MS = 60_000;

export function checkId(field: string, id: string): string {
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(field, `"${id.slice(0, 64)}" is not a valid id (1..128 of [A-Za-z0-9_.-])`);
  return id;
}

export class ContainerManager {
  private readonly containers = new Map<string, Container>();
  private readonly oomQueue: OomEvent[] = [];
  private readonly oomWaiters = new Set<() => void>();
  private readonly oomWatches: OomWatches;
  /** oom_kill of the parent cgroup (hierarchical) already attributed to some container. */
  private parentOomSeen: number | undefined;
  /** Numbers the resources files of UpdateContainerResources. */
  private updates = 0;

  constructor(
    private readonly sys: System,
    private readonly paths: ContainerPaths,
    /** How often a container whose memory.events cannot be watched is read instead (oom-watch.ts). */
    oomPollMs = 500,
  ) {
    this.oomWatches = new OomWatches((id) => this.oomCountChanged(id), oomPollMs);
  }

  async create(req: CreateContainerRequest): Promise<void> {
    const id = checkId('container_id', req.container_id);
    if (this.containers.has(id)) throw new AlreadyExistsError('container', id);
    let spec = prepareSpec(req.oci_spec_json, {
      containerId: id,
      shareDir: this.paths.shareDir(),
      rootfsPath: req.rootfs_path,
      mounts: req.mounts,
      cgroupParent: this.paths.cgroupParent,
    });
    const privileged = req.privileged ? (this.paths.privilegedFacts ?? realPrivilegedFacts)() : undefined;
    if (privileged) spec = privilegedSpec(spec, privileged);
    const terminal = spec.process?.terminal === true ? (consoleSizeOf(spec.process, 'oci_spec_json.process') ?? null) : undefined;
    const bundle = join(this.paths.bundlesDir, id);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    const c: Container = {
      id,
      bundle,
      cgroupDir: join(this.paths.cgroupRoot, this.paths.cgroupParent, id),
      init: undefined as unknown as GuestProcess,
      initPid: 0,
      started: false,
      made: Promise.resolve(),
      execs: new Map(),
      oomKills: 0,
      oomAtStart: 0,
      privilegedCaps: privileged && [...privileged.capabilities],
    };
    c.init = new GuestProcess({
      stdin: req.stdin,
      terminal,
      label: `${id}/init`,
      exited: (code) => this.initExited(c, code),
      ttyPid: () => (c.initPid > 0 && c.initPid !== c.init.pid ? c.initPid : undefined),
    });
    this.containers.set(id, c);
  }

  async start(id: string): Promise<number> {
    const c = this.get(id);
    if (c.started) throw new FailedPreconditionError(`container "${id}" was already started`);
    c.started = true;
    const started = this.runInit(c);
    c.made = started.then(
      () => undefined,
      () => undefined,
    );
    return started;
  }

  private async runInit(c: Container): Promise<number> {
    c.oomKills = c.oomAtStart = readOomKills(c.cgroupDir) ?? 0;
    this.parentOomSeen ??= readOomKills(this.parentCgroupDir()) ?? 0;
    const pidFile = join(c.bundle, INIT_PID_FILE);
    // Synchronous: the bundle is on the guest's tmpfs (see readOomKills on thread-pool trips).
    rmSync(pidFile, { force: true });
    try {
      c.init.start(this.sys, this.paths.ociRuntime, ociRuntimeArgs.run(c.id, c.bundle, pidFile));
    } catch (err) {
      // Nothing was started (no pty to be had): the container may be started again or removed.
      c.started = false;
      throw err;
    }
    // crun's own pid stands in until the file names the container's process (or if it never does).
    c.initPid = c.init.pid;
    c.initPid = (await waitForPidFile(c.bundle, INIT_PID_FILE, { gone: () => c.init.exit !== undefined, timeoutMs: INIT_PID_WAIT_MS })) ?? c.initPid;
    // crun made the cgroup before it wrote the pid file; a crun that failed made nothing to watch.
    if (!c.init.exit) this.oomWatches.add(c.id, c.cgroupDir);
    return c.initPid;
  }

  async exec(id: string, execId: string, processJson: Uint8Array, stdin: boolean): Promise<number> {
    const c = this.get(id);
    checkId('exec_id', execId);
    await c.made;
    if (c.execs.has(execId)) throw new AlreadyExistsError('exec', `${id}/${execId}`);
    if (!c.started || c.init.exit) throw new FailedPreconditionError(`container "${id}" is not running`);
    this.makeRoomForExec(c);
    let proc: OciProcess;
    try {
      proc = JSON.parse(Buffer.from(processJson).toString('utf8')) as OciProcess;
    } catch (err) {
      throw new InvalidArgumentError('process_json', `not JSON: ${(err as Error).message}`);
    }
    if (!proc || typeof proc !== 'object' || Array.isArray(proc)) throw new InvalidArgumentError('process_json', 'not a JSON object');
    if (!Array.isArray(proc.args) || proc.args.length === 0) throw new InvalidArgumentError('process_json', 'args is empty');
    const terminal = proc.terminal === true ? (consoleSizeOf(proc, 'process_json') ?? null) : undefined;
    // An exec in a privileged container is as privileged as the container.
    if (c.privilegedCaps) proc.capabilities = processCapabilities(c.privilegedCaps);
    const file = join(c.bundle, `exec-${execId}.json`);
    const pidFile = join(c.bundle, `exec-${execId}.pid`);
    await writeFile(file, JSON.stringify(proc));
    const p = new GuestProcess({
      stdin,
      terminal,
      label: `${id}/${execId}`,
      pidFile,
      ttyPid: () => pidFromFile(readTextIfThere(pidFile)),
      // crun no longer needs either file; a container with an exec probe runs thousands of execs.
      exited: async () => {
        await Promise.all([rm(file, { force: true }), rm(pidFile, { force: true })]).catch(() => undefined);
        setTimeout(() => this.forgetExec(c, execId, p), FINISHED_EXEC_TTL_MS).unref();
        return false;
      },
    });
    p.start(this.sys, this.paths.ociRuntime, ociRuntimeArgs.exec(id, file, pidFile));
    c.execs.set(execId, p);
    return p.pid;
  }

  async signal(id: string, execId: string, signal: number): Promise<void> {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new InvalidArgumentError('signal', `${signal} is not a signal number`);
    const c = this.get(id);
    if (!execId) {
      if (!c.started || c.init.exit) return; // nothing to signal: already stopped
      await c.made;
      if (!c.started || c.init.exit) return;
      await mustRun(this.sys, this.paths.ociRuntime, ociRuntimeArgs.kill(id, signal, true));
      return;
    }
    // To the exec'd process itself: `crun exec` forwards what it receives, but not SIGKILL.
    await this.proc(c, execId).signal(signal);
  }

  /**
   * The process's exit, if it has exited (waiting up to waitMs for it), and
   * whether it was started: only a container's init can be not started (created,
   * or its start failed), and a host that reattached asks to tell that from running.
   */
  async wait(id: string, execId: string, waitMs: number, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.get(id);
    const p = this.proc(c, execId);
    const exit = await p.wait(waitMs, signal);
    if (execId && p.collected) this.forgetExec(c, execId, p);
    return { exit, started: execId !== '' || c.started };
  }

  async remove(id: string, force: boolean): Promise<void> {
    const c = this.containers.get(id);
    // CRI rule: removing something already gone succeeds.
    if (!c) return;
    if (c.started && !c.init.exit) {
      if (!force) throw new FailedPreconditionError(`container "${id}" is still running; stop it first or remove with force`);
      await c.made;
      await this.sys.run(this.paths.ociRuntime, ociRuntimeArgs.kill(id, 9, true));
      await this.wait(id, '', 10_000);
    }
    for (const p of [c.init, ...c.execs.values()]) p.close();
    this.oomWatches.remove(id);
    // Usually a no-op: `crun run` deletes the container (state and cgroup) when its init exits.
    await this.sys.run(this.paths.ociRuntime, ociRuntimeArgs.delete(id, true));
    // A `crun exec` started just before may still write its pid file into the
    // bundle while it is being removed (ENOTEMPTY on the last rmdir): each
    // retry walks the directory again and takes what appeared meanwhile.
    await rm(c.bundle, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    this.containers.delete(id);
  }

  async stats(id: string): Promise<CgroupStats> {
    return readCgroupStats(this.get(id).cgroupDir);
  }

  async update(id: string, resourcesJson: Uint8Array): Promise<void> {
    const c = this.get(id);
    await c.made;
    try {
      JSON.parse(Buffer.from(resourcesJson).toString('utf8'));
    } catch (err) {
      throw new InvalidArgumentError('resources_json', `not JSON: ${(err as Error).message}`);
    }
    // A file of its own per call (oci-runtime.ts says why not stdin): updates may overlap.
    const file = join(c.bundle, `resources-${++this.updates}.json`);
    await writeFile(file, resourcesJson);
    try {
      await mustRun(this.sys, this.paths.ociRuntime, ociRuntimeArgs.update(id, file));
    } finally {
      await rm(file, { force: true });
    }
  }

  writeStdin(id: string, execId: string, data: Uint8Array): Promise<number> {
    return this.proc(this.get(id), execId).writeStdin(data);
  }

  closeStdin(id: string, execId: string): void {
    this.proc(this.get(id), execId).closeStdin();
  }

  resizeTerminal(id: string, execId: string, size: WindowSize): void {
    this.proc(this.get(id), execId).resize(size);
  }

  async read(id: string, execId: string, stream: 'stdout' | 'stderr', maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    const c = this.get(id);
    const p = this.proc(c, execId);
    const r = await p.read(stream, maxBytes, waitMs, signal);
    if (execId && p.collected) this.forgetExec(c, execId, p);
    return r;
  }

  /** How many exec records a container holds (tests; the bound is MAX_EXECS_PER_CONTAINER). */
  execCount(id: string): number {
    return this.get(id).execs.size;
  }

  private forgetExec(c: Container, execId: string, p: GuestProcess): void {
    if (c.execs.get(execId) !== p) return; // already forgotten (or the container removed)
    p.close();
    c.execs.delete(execId);
  }

  private makeRoomForExec(c: Container): void {
    if (c.execs.size < MAX_EXECS_PER_CONTAINER) return;
    // Map order is creation order: the oldest finished record goes first.
    for (const [execId, p] of c.execs) {
      if (p.exit) {
        this.forgetExec(c, execId, p);
        return;
      }
    }
    throw new ResourceExhaustedError(`container "${c.id}" already runs ${MAX_EXECS_PER_CONTAINER} execs; wait for one to end`);
  }

  async nextOomEvent(waitMs: number, signal?: AbortSignal): Promise<OomEvent | undefined> {
    if (this.oomQueue.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.oomWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.oomWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return this.oomQueue.shift();
  }

  /** Stop watching for OOM kills (tests, shutdown). */
  close(): void {
    this.oomWatches.close();
  }

  private parentCgroupDir(): string {
    return join(this.paths.cgroupRoot, this.paths.cgroupParent);
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError('container', id, 'not created in this guest');
    return c;
  }

  private proc(c: Container, execId: string): GuestProcess {
    if (!execId) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw new NotFoundError('exec', `${c.id}/${execId}`);
    return p;
  }

  /** Whether the init that exited with `code` was killed by the OOM killer (its cgroup's or, once crun removed that, the parent's count). */
  private async initExited(c: Container, code: number): Promise<boolean> {
    this.oomWatches.remove(c.id);
    const own = readOomKills(c.cgroupDir);
    if (own !== undefined) {
      this.pushOom(c, own);
      return own > c.oomAtStart;
    }
    // `crun run` removes the container's cgroup before it exits, so its own
    // counter is usually gone by now. The parent's memory.events counts the
    // whole subtree: a SIGKILLed init while the parent's count grew is
    // attributed one OOM kill.
    const parent = readOomKills(this.parentCgroupDir()) ?? 0;
    if (c.oomKills > c.oomAtStart) return code === 128 + 9; // the watch saw it while the cgroup existed
    if (code === 128 + 9 && parent > (this.parentOomSeen ?? parent)) {
      this.pushOom(c, c.oomKills + 1);
      return true;
    }
    return false;
  }

  private pushOom(c: Container, kills: number): void {
    if (kills <= c.oomKills) return;
    // Attributed kills are consumed from the parent's (hierarchical) count.
    if (this.parentOomSeen !== undefined) this.parentOomSeen += kills - c.oomKills;
    c.oomKills = kills;
    if (this.oomQueue.length < MAX_OOM_QUEUE) this.oomQueue.push({ containerId: c.id, count: kills });
    for (const w of [...this.oomWaiters]) w();
  }

  /** A running container's memory.events may have changed (oom-watch.ts): report a grown oom_kill count. */
  private oomCountChanged(id: string): void {
    const c = this.containers.get(id);
    if (!c?.started || c.init.exit) return;
    const k = readOomKills(c.cgroupDir);
    if (k !== undefined) this.pushOom(c, k);
  }
}
