// Containers and processes in the guest: the state behind the container and
// process RPCs. Each container's init runs as `runc run` and each exec as
// `runc exec`, both children of the agent (see runc.ts), so exits are reaped
// and reported here. Output is kept in bounded per-stream buffers until the
// host reads it. A process with a terminal gets a pty from the agent instead
// of pipes (terminal.ts); its output is all stdout, as on any terminal.

import { ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../src/errors';
import { ID_PATTERN } from '../../src/agent-client/limits';
import type { CreateContainerRequest } from '../../src/generated/agent/agent';
import { OutputBuffer, ReadResult } from './output-buffer';
import { consoleSizeOf, OciProcess, prepareSpec } from './spec';
import { Terminal } from './terminal';
import type { WindowSize } from '../../src/native/pty';
import { pidFromState, runcArgs } from './runc';
import { CgroupStats, readCgroupStats, readOomKills } from './cgroup';
import { mustRun, signalNumber, System } from './system';

export interface ContainerPaths {
  runc: string;
  bundlesDir: string;
  shareDir: () => string;
  cgroupRoot: string;
  cgroupParent: string;
}

export interface ExitStatus {
  code: number;
  finishedAtNs: bigint;
  oomKilled: boolean;
}

interface Proc {
  child?: ChildProcess;
  terminal?: Terminal;
  /** Whether the host may still write stdin. */
  stdinOpen: boolean;
  pid: number;
  stdout: OutputBuffer;
  stderr: OutputBuffer;
  exit?: ExitStatus;
  exitWaiters: Set<() => void>;
  /** Output streams still open; the exit is reported once both have ended (no output lost). */
  openStreams: number;
  pendingExit?: { code: number };
}

interface Container {
  id: string;
  bundle: string;
  cgroupDir: string;
  stdin: boolean;
  /** Initial terminal size when the spec asks for a terminal; null for a terminal of unknown size. */
  terminal: WindowSize | null | undefined;
  init: Proc;
  started: boolean;
  execs: Map<string, Proc>;
  /** Last oom_kill count seen (events are reported when it grows). */
  oomKills: number;
  /** oom_kill count when the container started (its exit was an OOM kill if it grew). */
  oomAtStart: number;
}

export interface OomEvent {
  containerId: string;
  count: number;
}

const MAX_OOM_QUEUE = 1024;

export function checkId(field: string, id: string): string {
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(field, `"${id.slice(0, 64)}" is not a valid id (1..128 of [A-Za-z0-9_.-])`);
  return id;
}

function newProc(): Proc {
  return { pid: 0, stdinOpen: false, stdout: new OutputBuffer(), stderr: new OutputBuffer(), exitWaiters: new Set(), openStreams: 0 };
}

export class ContainerManager {
  private readonly containers = new Map<string, Container>();
  private readonly oomQueue: OomEvent[] = [];
  private readonly oomWaiters = new Set<() => void>();
  private oomTimer: NodeJS.Timeout | undefined;
  /** oom_kill of the parent cgroup (hierarchical) already attributed to some container. */
  private parentOomSeen: number | undefined;

  constructor(private readonly sys: System, private readonly paths: ContainerPaths, private readonly oomPollMs = 500) {}

  async create(req: CreateContainerRequest): Promise<void> {
    const id = checkId('container_id', req.container_id);
    if (this.containers.has(id)) throw new AlreadyExistsError('container', id);
    const spec = prepareSpec(req.oci_spec_json, {
      containerId: id,
      shareDir: this.paths.shareDir(),
      rootfsPath: req.rootfs_path,
      mounts: req.mounts,
      cgroupParent: this.paths.cgroupParent,
    });
    const terminal = spec.process?.terminal === true ? (consoleSizeOf(spec.process, 'oci_spec_json.process') ?? null) : undefined;
    const bundle = join(this.paths.bundlesDir, id);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    this.containers.set(id, {
      id,
      bundle,
      cgroupDir: join(this.paths.cgroupRoot, this.paths.cgroupParent, id),
      stdin: req.stdin,
      terminal,
      init: newProc(),
      started: false,
      execs: new Map(),
      oomKills: 0,
      oomAtStart: 0,
    });
  }

  async start(id: string): Promise<number> {
    const c = this.get(id);
    if (c.started) throw new FailedPreconditionError(`container "${id}" was already started`);
    c.started = true;
    c.oomKills = c.oomAtStart = (await readOomKills(c.cgroupDir)) ?? 0;
    this.parentOomSeen ??= (await readOomKills(this.parentCgroupDir())) ?? 0;
    try {
      this.launch(c, c.init, runcArgs.run(id, c.bundle), c.stdin, c.terminal);
    } catch (err) {
      // Nothing was started (no pty to be had): the container may be started again or removed.
      c.started = false;
      throw err;
    }
    this.ensureOomPoll();
    // runc's own pid until `runc state` knows the container's init.
    c.init.pid = c.init.child?.pid ?? 0;
    for (let i = 0; i < 40 && !c.init.exit; i++) {
      const st = await this.sys.run(this.paths.runc, runcArgs.state(id));
      const pid = st.code === 0 ? pidFromState(st.stdout) : undefined;
      if (pid) {
        c.init.pid = pid;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return c.init.pid;
  }

  async exec(id: string, execId: string, processJson: Uint8Array, stdin: boolean): Promise<number> {
    const c = this.get(id);
    checkId('exec_id', execId);
    if (c.execs.has(execId)) throw new AlreadyExistsError('exec', `${id}/${execId}`);
    if (!c.started || c.init.exit) throw new FailedPreconditionError(`container "${id}" is not running`);
    let proc: OciProcess;
    try {
      proc = JSON.parse(Buffer.from(processJson).toString('utf8')) as OciProcess;
    } catch (err) {
      throw new InvalidArgumentError('process_json', `not JSON: ${(err as Error).message}`);
    }
    if (!proc || typeof proc !== 'object' || Array.isArray(proc)) throw new InvalidArgumentError('process_json', 'not a JSON object');
    if (!Array.isArray(proc.args) || proc.args.length === 0) throw new InvalidArgumentError('process_json', 'args is empty');
    const terminal = proc.terminal === true ? (consoleSizeOf(proc, 'process_json') ?? null) : undefined;
    const file = join(c.bundle, `exec-${execId}.json`);
    await writeFile(file, JSON.stringify(proc));
    const p = newProc();
    c.execs.set(execId, p);
    try {
      this.launch(c, p, runcArgs.exec(id, file), stdin, terminal);
    } catch (err) {
      c.execs.delete(execId);
      throw err;
    }
    p.pid = p.child?.pid ?? 0;
    return p.pid;
  }

  async signal(id: string, execId: string, signal: number): Promise<void> {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new InvalidArgumentError('signal', `${signal} is not a signal number`);
    const c = this.get(id);
    if (!execId) {
      if (!c.started || c.init.exit) return; // nothing to signal: already stopped
      await mustRun(this.sys, this.paths.runc, runcArgs.kill(id, signal, true));
      return;
    }
    const p = this.proc(c, execId);
    // `runc exec` forwards signals it receives to the process it runs.
    if (!p.exit) p.child?.kill(signal);
  }

  async wait(id: string, execId: string, waitMs: number, signal?: AbortSignal): Promise<ExitStatus | undefined> {
    const p = this.proc(this.get(id), execId);
    if (!p.exit && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          p.exitWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        p.exitWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return p.exit;
  }

  async remove(id: string, force: boolean): Promise<void> {
    const c = this.containers.get(id);
    // CRI rule: removing something already gone succeeds.
    if (!c) return;
    if (c.started && !c.init.exit) {
      if (!force) throw new FailedPreconditionError(`container "${id}" is still running; stop it first or remove with force`);
      await this.sys.run(this.paths.runc, runcArgs.kill(id, 9, true));
      await this.wait(id, '', 10_000);
    }
    for (const p of [c.init, ...c.execs.values()]) {
      if (!p.exit) p.child?.kill('SIGKILL');
      p.terminal?.close();
    }
    await this.sys.run(this.paths.runc, runcArgs.delete(id, true));
    await rm(c.bundle, { recursive: true, force: true });
    this.containers.delete(id);
  }

  async stats(id: string): Promise<CgroupStats> {
    return readCgroupStats(this.get(id).cgroupDir);
  }

  async update(id: string, resourcesJson: Uint8Array): Promise<void> {
    this.get(id);
    try {
      JSON.parse(Buffer.from(resourcesJson).toString('utf8'));
    } catch (err) {
      throw new InvalidArgumentError('resources_json', `not JSON: ${(err as Error).message}`);
    }
    await mustRun(this.sys, this.paths.runc, runcArgs.update(id), { input: Buffer.from(resourcesJson) });
  }

  writeStdin(id: string, execId: string, data: Uint8Array): number {
    const p = this.proc(this.get(id), execId);
    const stdin = p.child?.stdin;
    if (p.terminal) {
      if (!p.stdinOpen || !p.terminal.open) throw new FailedPreconditionError(`stdin of ${id}/${execId || 'init'} is closed`);
      p.terminal.write(data);
      return data.length;
    }
    if (!stdin || stdin.writableEnded || stdin.destroyed) throw new FailedPreconditionError(`stdin of ${id}/${execId || 'init'} is closed`);
    stdin.write(Buffer.from(data));
    return data.length;
  }

  closeStdin(id: string, execId: string): void {
    const p = this.proc(this.get(id), execId);
    // A terminal has no write side to close without hanging up the whole
    // terminal: closing stdin types ^D, as a user at that terminal would.
    if (p.terminal && p.stdinOpen) p.terminal.sendEof();
    p.stdinOpen = false;
    p.child?.stdin?.end();
  }

  /** Window size of a process's terminal; ignored once the process has exited (a resize may race its exit). */
  resizeTerminal(id: string, execId: string, size: WindowSize): void {
    const p = this.proc(this.get(id), execId);
    if (!p.terminal) throw new FailedPreconditionError(`${id}/${execId || 'init'} has no terminal`);
    if (!Number.isInteger(size.rows) || !Number.isInteger(size.cols) || size.rows > 0xffff || size.cols > 0xffff) {
      throw new InvalidArgumentError('rows/cols', `${size.rows}x${size.cols} does not fit a terminal (0..65535 each)`);
    }
    if (p.exit || !p.terminal.open) return;
    p.terminal.resize(size);
    // runc copies its stdio's size onto the container's pty on SIGWINCH.
    p.child?.kill('SIGWINCH');
  }

  read(id: string, execId: string, stream: 'stdout' | 'stderr', maxBytes: number, waitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    return this.proc(this.get(id), execId)[stream].read(maxBytes, waitMs, signal);
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

  /** Stop background polling (tests, shutdown). */
  close(): void {
    if (this.oomTimer) clearInterval(this.oomTimer);
    this.oomTimer = undefined;
  }

  private parentCgroupDir(): string {
    return join(this.paths.cgroupRoot, this.paths.cgroupParent);
  }

  private get(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError('container', id, 'not created in this guest');
    return c;
  }

  private proc(c: Container, execId: string): Proc {
    if (!execId) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw new NotFoundError('exec', `${c.id}/${execId}`);
    return p;
  }

  /** Spawns runc for a process, on pipes or, when `terminal` is set, on a new pty of that size (null: unknown size). */
  private launch(c: Container, p: Proc, args: string[], keepStdin: boolean, terminal: WindowSize | null | undefined): void {
    if (terminal === undefined) {
      this.attach(c, p, this.sys.spawn(this.paths.runc, args), keepStdin);
      return;
    }
    const term = Terminal.open(terminal ?? undefined);
    p.terminal = term;
    let child: ChildProcess;
    try {
      child = this.sys.spawn(this.paths.runc, args, term.childFd);
    } finally {
      term.releaseSlave();
    }
    this.attach(c, p, child, keepStdin);
  }

  private attach(c: Container, p: Proc, child: ChildProcess, keepStdin: boolean): void {
    p.child = child;
    p.stdinOpen = keepStdin;
    child.stdin?.on('error', () => undefined);
    if (!keepStdin) child.stdin?.end();
    const outputs: Array<['stdout' | 'stderr', NodeJS.ReadableStream | null]> = p.terminal
      ? [['stdout', p.terminal.output]]
      : [['stdout', child.stdout], ['stderr', child.stderr]];
    // On a terminal, stderr is stdout: nothing will ever come on it.
    if (p.terminal) p.stderr.end();
    for (const [name, s] of outputs) {
      if (!s) continue;
      p.openStreams++;
      s.on('data', (b: Buffer) => p[name].append(b));
      s.on('close', () => {
        p[name].end();
        if (--p.openStreams === 0 && p.pendingExit) void this.finish(c, p, p.pendingExit.code);
      });
    }
    const onExit = (code: number): void => {
      if (p.exit || p.pendingExit) return;
      p.pendingExit = { code };
      if (p.openStreams === 0) void this.finish(c, p, code);
    };
    child.on('exit', (code, sig) => onExit(code ?? 128 + signalNumber(sig)));
    child.on('error', (err) => {
      p.stderr.append(Buffer.from(`vmpod-agent: cannot run runc: ${err.message}\n`));
      p.stdout.end();
      p.stderr.end();
      p.openStreams = 0;
      onExit(127);
    });
  }

  private async finish(c: Container, p: Proc, code: number): Promise<void> {
    let oomKilled = false;
    if (p === c.init) {
      const own = await readOomKills(c.cgroupDir);
      if (own !== undefined) {
        oomKilled = own > c.oomAtStart;
        this.pushOom(c, own);
      } else {
        // `runc run` removes the container's cgroup before it exits, so its own
        // counter is usually gone by now. The parent's memory.events counts the
        // whole subtree: a SIGKILLed init while the parent's count grew is
        // attributed one OOM kill.
        const parent = (await readOomKills(this.parentCgroupDir())) ?? 0;
        if (c.oomKills > c.oomAtStart) {
          oomKilled = code === 128 + 9; // the poller saw it while the cgroup existed
        } else if (code === 128 + 9 && parent > (this.parentOomSeen ?? parent)) {
          oomKilled = true;
          this.pushOom(c, c.oomKills + 1);
        }
      }
    }
    if (p.exit) return;
    p.exit = { code, finishedAtNs: BigInt(Date.now()) * 1_000_000n, oomKilled };
    for (const w of [...p.exitWaiters]) w();
  }

  private pushOom(c: Container, kills: number): void {
    if (kills <= c.oomKills) return;
    // Attributed kills are consumed from the parent's (hierarchical) count.
    if (this.parentOomSeen !== undefined) this.parentOomSeen += kills - c.oomKills;
    c.oomKills = kills;
    if (this.oomQueue.length < MAX_OOM_QUEUE) this.oomQueue.push({ containerId: c.id, count: kills });
    for (const w of [...this.oomWaiters]) w();
  }

  private ensureOomPoll(): void {
    // cgroup v2 memory.events is polled rather than watched: inotify on
    // cgroupfs works, but a poll is simpler and costs one read per running
    // container per interval.
    this.oomTimer ??= setInterval(() => {
      for (const c of this.containers.values()) {
        if (!c.started || c.init.exit) continue;
        void readOomKills(c.cgroupDir).then((k) => k !== undefined && this.pushOom(c, k));
      }
    }, this.oomPollMs);
    this.oomTimer.unref();
  }
}
